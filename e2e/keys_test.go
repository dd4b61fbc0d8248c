package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

// encodeURIComponent is JavaScript's, which the web UI's keyPath applies to
// each segment of a key (web/src/api/client.ts: key.split('/').map(enc).join('/')).
func encodeURIComponent(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func uiKeyPath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = encodeURIComponent(s)
	}
	return strings.Join(segs, "/")
}

// Every key the API accepts reads back, as written, through every path:
// the API as the Go client and the CLI encode it, the web UI's encoding,
// and the batch endpoint's query. Keys outside the grammar are refused at
// write with a 400 that names the key, and nothing of their batch is kept.
func TestEveryAcceptedKeyReadsBack(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	run, err := s.C.CreateRun(ctx, trainyard.NewRun{Project: "keys"})
	if err != nil {
		t.Fatal(err)
	}
	good := []string{
		"loss", "train/loss", "val loss", "a.b", "a..b", "a/..b", ".a", "a/.b", "-x", "x-", "eval:top-1",
		"損失/訓練", "β2", "trailing ", " leading", "a/b/c/d", "x/y", "xy", "_",
	}
	var series []string
	for i, k := range good {
		kj, _ := json.Marshal(k)
		series = append(series, fmt.Sprintf(`{"key":%s,"steps":[1,2],"values":[%d,0.1]}`, kj, i))
	}
	if _, err := s.C.AppendMetrics(ctx, run.ID, []byte(`{"series":[`+strings.Join(series, ",")+`]}`)); err != nil {
		t.Fatal(err)
	}
	check := func(how, k string, got []byte, err error, i int) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: key %q: %v", how, k, err)
			return
		}
		var ser struct {
			Key    string
			Steps  []int64
			Values []trainyard.Float
		}
		if err := json.Unmarshal(got, &ser); err != nil || ser.Key != k || len(ser.Values) != 2 || float64(ser.Values[0]) != float64(i) {
			t.Errorf("%s: key %q read %s (%v)", how, k, got, err)
		}
	}
	for i, k := range good {
		// The Go client (and so the CLI).
		sj, err := s.C.Metric(ctx, run.ID, k, nil)
		var b []byte
		if err == nil {
			b, _ = json.Marshal(sj)
		}
		check("client", k, b, err, i)
		out, stderr, code := s.cli(t.TempDir(), "metrics", "--json", run.ID, "--", k)
		if code != 0 {
			t.Errorf("cli: key %q: exit %d: %s", k, code, stderr)
		} else {
			check("cli", k, []byte(out), nil, i)
		}
		// The web UI's encoding, and the UI's batch endpoint.
		for _, u := range []string{
			s.URL + "/api/v1/runs/" + run.ID + "/metrics/" + uiKeyPath(k),
			s.URL + "/api/v1/batch/series?max_points=10&run=" + run.ID + "&key=" + encodeURIComponent(k),
		} {
			resp, err := noRedirect.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
				continue
			}
			if strings.Contains(u, "/batch/") {
				var bs struct{ Series []json.RawMessage }
				json.Unmarshal(b, &bs)
				if len(bs.Series) != 1 {
					t.Errorf("batch: %s", b)
					continue
				}
				b = bs.Series[0]
			}
			check("ui "+u, k, b, nil, i)
		}
	}
	// x/y and xy are different series; x//y is not a way to read x/y.
	resp, err := noRedirect.Get(s.URL + "/api/v1/runs/" + run.ID + "/metrics/x//y")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "segment") {
		t.Errorf("GET .../metrics/x//y: %d %s; want 400, not the series of x/y", resp.StatusCode, b)
	}

	// Refused keys: 400, naming the key; the batch's good key is not kept.
	for _, k := range []string{"a//b", "/x", ".", "..", "a/./b", "a/../b", "../x", "x/", "acc@1", "a%b", "a?b", "a#b"} {
		kj, _ := json.Marshal(k)
		body := fmt.Sprintf(`{"series":[{"key":"kept-not","values":[1]},{"key":%s,"values":[1]}]}`, kj)
		_, err := s.C.AppendMetrics(ctx, run.ID, []byte(body))
		if statusOf(err) != 400 || !strings.Contains(err.Error(), fmt.Sprintf("%q", k)) {
			t.Errorf("key %q: %v; want a 400 naming it", k, err)
		}
		rows := fmt.Sprintf(`{"points":[{"key":%s,"value":1}]}`, kj)
		if _, err := s.C.AppendMetrics(ctx, run.ID, []byte(rows)); statusOf(err) != 400 {
			t.Errorf("key %q in the row form: %v", k, err)
		}
		// Config, summary and tag keys follow the same grammar.
		if _, err := s.C.UpdateRun(ctx, run.ID, trainyard.RunUpdate{Summary: map[string]any{k: 1}}); statusOf(err) != 400 {
			t.Errorf("summary key %q: %v", k, err)
		}
		if _, err := s.C.UpdateRun(ctx, run.ID, trainyard.RunUpdate{Tags: map[string]string{k: "v"}}); statusOf(err) != 400 {
			t.Errorf("tag key %q: %v", k, err)
		}
	}
	got, err := s.C.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Metrics["kept-not"]; ok || len(got.Metrics) != len(good) {
		t.Errorf("metrics after the refused batches: %v", trainyard.SortedKeys(got.Metrics))
	}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// statusOf is the HTTP status of a client error (0 for none or another).
func statusOf(err error) int {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
