package mlflowapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/mlflowapi"
	"github.com/trainyard/trainyard/sqlite"
)

// BenchmarkMLflowSearchRuns is bench/mlflow's search over 10,000 runs,
// without the network: a filter on a metric and a param, ordered by a
// metric, a page of 100.
func BenchmarkMLflowSearchRuns(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	arts, _ := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	t0 := time.Now()
	for i := range 10_000 {
		r := &trainyard.Run{ID: fmt.Sprintf("r%05d", i), Project: "search", Name: fmt.Sprint(i), State: trainyard.StateRunning,
			Config: map[string]any{"opt": []string{"adam", "sgd", "lamb"}[i%3], "layers": fmt.Sprint(i % 12), "seed": fmt.Sprint(i)},
			Tags:   map[string]string{"team": "vision", "sweep": fmt.Sprint(i / 100)}, Summary: map[string]any{},
			CreatedAt: t0.Add(time.Duration(i) * time.Second), StartedAt: t0.Add(time.Duration(i) * time.Second)}
		if err := store.CreateRun(ctx, r); err != nil {
			b.Fatal(err)
		}
		if err := store.AppendMetrics(ctx, r.ID, []trainyard.SeriesPoints{
			{Key: "loss", Steps: []int64{0}, Values: []float64{float64(i%1000) / 1000}, Times: []int64{0}},
			{Key: "acc", Steps: []int64{0}, Values: []float64{float64((i*7919)%1000) / 1000}, Times: []int64{0}},
			{Key: "lr", Steps: []int64{0}, Values: []float64{0.001}, Times: []int64{0}},
		}); err != nil {
			b.Fatal(err)
		}
	}
	exp, _ := store.ExperimentByName(ctx, "search")
	srv := httptest.NewServer(mlflowapi.New(mlflowapi.Config{Store: store, Artifacts: arts}))
	defer srv.Close()
	body := `{"experiment_ids": ["` + exp.ID + `"], "filter": "metrics.loss < 0.5 and params.opt = 'adam'", "max_results": 100, "order_by": ["metrics.acc DESC"]}`
	search := func() {
		resp, err := http.Post(srv.URL+"/api/2.0/mlflow/runs/search", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp.Status)
		}
		resp.Body.Close()
	}
	search() // loads the index
	b.ResetTimer()
	for range b.N {
		search()
	}
}

// BenchmarkMLflowMetricHistory reads a 1,000,000-point metric as the mlflow
// client does: pages of 25,000.
func BenchmarkMLflowMetricHistory(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	arts, _ := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	run := &trainyard.Run{ID: "r", Project: "p", Name: "r", State: trainyard.StateRunning, Config: map[string]any{}, Tags: map[string]string{}, Summary: map[string]any{}, CreatedAt: time.Now()}
	if err := store.CreateRun(ctx, run); err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < 1_000_000; lo += 10_000 {
		sp := trainyard.SeriesPoints{Key: "loss"}
		for i := lo; i < lo+10_000; i++ {
			sp.Steps, sp.Values, sp.Times = append(sp.Steps, int64(i)), append(sp.Values, 1/float64(i+1)), append(sp.Times, 1_700_000_000_000+int64(i))
		}
		if err := store.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{sp}); err != nil {
			b.Fatal(err)
		}
	}
	srv := httptest.NewServer(mlflowapi.New(mlflowapi.Config{Store: store, Artifacts: arts}))
	defer srv.Close()
	b.ResetTimer()
	for range b.N {
		token := ""
		for {
			u := srv.URL + "/api/2.0/mlflow/metrics/get-history?run_id=r&metric_key=loss&max_results=25000"
			if token != "" {
				u += "&page_token=" + url.QueryEscape(token)
			}
			resp, err := http.Get(u)
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(err, resp.Status)
			}
			var out struct {
				Next string `json:"next_page_token"`
			}
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if token = out.Next; token == "" {
				break
			}
		}
	}
}

// BenchmarkMLflowMetricHistoryServer is the server's share of reading a
// 1,000,000-point history in 25,000-point pages: the handler alone, no
// network, no client decoding.
func BenchmarkMLflowMetricHistoryServer(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	arts, _ := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	run := &trainyard.Run{ID: "r", Project: "p", Name: "r", State: trainyard.StateRunning, Config: map[string]any{}, Tags: map[string]string{}, Summary: map[string]any{}, CreatedAt: time.Now()}
	if err := store.CreateRun(ctx, run); err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < 1_000_000; lo += 10_000 {
		sp := trainyard.SeriesPoints{Key: "loss"}
		for i := lo; i < lo+10_000; i++ {
			sp.Steps, sp.Values, sp.Times = append(sp.Steps, int64(i)), append(sp.Values, 1/float64(i+1)), append(sp.Times, 1_700_000_000_000+int64(i))
		}
		if err := store.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{sp}); err != nil {
			b.Fatal(err)
		}
	}
	h := mlflowapi.New(mlflowapi.Config{Store: store, Artifacts: arts})
	b.ResetTimer()
	for range b.N {
		for off := 0; off < 1_000_000; off += 25_000 {
			u := "/api/2.0/mlflow/metrics/get-history?run_id=r&metric_key=loss&max_results=25000"
			if off > 0 {
				u += "&page_token=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"offset": %d}`, off))))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body.String())
			}
		}
	}
}

// BenchmarkMLflowLogBatch is the server's share of one log-batch of 1,000
// metrics (10 keys × 100 steps) as the mlflow client writes it.
func BenchmarkMLflowLogBatch(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	arts, _ := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	h := mlflowapi.New(mlflowapi.Config{Store: store, Artifacts: arts})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, func() *http.Request {
		r := httptest.NewRequest("POST", "/api/2.0/mlflow/runs/create", strings.NewReader(`{"experiment_id": "0", "start_time": 1}`))
		r.Header.Set("Content-Type", "application/json")
		return r
	}())
	var created struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			}
		}
	}
	json.Unmarshal(rec.Body.Bytes(), &created)
	body := func(k int) []byte {
		var buf strings.Builder
		buf.WriteString(`{"run_id": "` + created.Run.Info.RunID + `", "metrics": [`)
		for i := 0; i < 1000; i++ {
			if i > 0 {
				buf.WriteString(", ")
			}
			step := k*100 + i/10
			fmt.Fprintf(&buf, `{"key": "m%d", "value": %g, "timestamp": %d, "step": %d}`, i%10, 1.0/float64(step+1), 1_700_000_000_000+int64(step), step)
		}
		buf.WriteString("]}")
		return []byte(buf.String())
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		next := body(i) // fresh steps, as a training loop logs them
		b.StartTimer()
		r := httptest.NewRequest("POST", "/api/2.0/mlflow/runs/log-batch", bytes.NewReader(next))
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
