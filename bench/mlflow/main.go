// Command mlflow benchmarks trainyard's MLflow-compatible API against the
// real MLflow tracking server (`mlflow server`, SQLite backend) on this
// machine: it starts one server, runs the workload, stops it, then does the
// same with the other, and prints medians and trainyard's advantage.
//
// The client is this program, speaking MLflow's REST protocol with the
// request bodies the mlflow Python client sends, so that both servers get
// exactly the same requests and the client's own cost (Python's proto
// conversion) does not hide the servers' difference.
//
//	go run ./bench/mlflow -bin bin/trainyard -mlflow .venv/bin/mlflow
//
// Workload:
//   - log-batch throughput: 1 and 8 concurrent clients, each logging
//     1,000-metric batches to its own run for -duration; points/s.
//   - search_runs over -runs runs (each with 3 metrics, 3 params, 2 tags)
//     in one experiment, filter "metrics.loss < 0.5 and params.opt = 'adam'",
//     order_by "metrics.acc DESC", max_results 100; median latency.
//   - get_metric_history of a -points point metric, paged as the client
//     pages it (25,000 a page); median latency of the whole history, and
//     of the same less the client's JSON decoding (encoding/json here).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	bin      = flag.String("bin", "bin/trainyard", "trainyard binary")
	mlflowBn = flag.String("mlflow", ".venv/bin/mlflow", "mlflow executable (pip install mlflow)")
	nRuns    = flag.Int("runs", 10_000, "runs in the searched experiment")
	nPoints  = flag.Int("points", 1_000_000, "points of the metric whose history is read")
	duration = flag.Duration("duration", 10*time.Second, "how long each log-batch measurement lasts")
	reps     = flag.Int("reps", 7, "repetitions of each latency measurement")
	only     = flag.String("only", "", "run only this server: mlflow or trainyard")
)

type result struct {
	batch1, batch8  float64       // points/s
	search, history time.Duration // medians
	historyServed   time.Duration // history less the client's JSON decoding
}

func main() {
	flag.Parse()
	results := map[string]result{}
	for _, name := range []string{"mlflow", "trainyard"} {
		if *only != "" && *only != name {
			continue
		}
		r, err := bench(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
		results[name] = r
	}
	fmt.Printf("\n%-34s %14s %14s %10s\n", "measure", "mlflow", "trainyard", "ratio")
	m, t := results["mlflow"], results["trainyard"]
	row := func(name string, a, b float64, unit string, higherBetter bool) {
		ratio := 0.0
		if a > 0 && b > 0 {
			ratio = b / a
			if !higherBetter {
				ratio = a / b
			}
		}
		fmt.Printf("%-34s %11.1f %-2s %11.1f %-2s %9.1f×\n", name, a, unit, b, unit, ratio)
	}
	row("log-batch, 1 client (kpoints/s)", m.batch1/1e3, t.batch1/1e3, "", true)
	row("log-batch, 8 clients (kpoints/s)", m.batch8/1e3, t.batch8/1e3, "", true)
	row(fmt.Sprintf("search_runs, %d runs (ms)", *nRuns), ms(m.search), ms(t.search), "", false)
	row(fmt.Sprintf("get_metric_history, %d pts (ms)", *nPoints), ms(m.history), ms(t.history), "", false)
	row("  without client decoding (ms)", ms(m.historyServed), ms(t.historyServed), "", false)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// server is one running tracking server.
type server struct {
	url  string
	cmd  *exec.Cmd
	dir  string
	logf *os.File
}

func start(name string) (*server, error) {
	dir, err := os.MkdirTemp("", "bench-mlflow-"+name)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://127.0.0.1:" + strconv.Itoa(port), dir: dir}
	switch name {
	case "mlflow":
		s.cmd = exec.Command(*mlflowBn, "server", "--backend-store-uri", "sqlite:///"+filepath.Join(dir, "mlflow.db"),
			"--artifacts-destination", filepath.Join(dir, "artifacts"), "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	default:
		s.cmd = exec.Command(*bin, "up", "--data", filepath.Join(dir, "data"), "--addr", "127.0.0.1:"+strconv.Itoa(port), "--nvidia-smi", "none")
	}
	if s.logf, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = s.logf, s.logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	deadline := time.Now().Add(300 * time.Second) // MLflow starts slowly on a busy machine
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.stop()
	log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
	return nil, fmt.Errorf("%s did not answer /health in 300s:\n%s", name, log)
}

func (s *server) stop() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.logf.Close()
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Minute}

// call sends one MLflow request and decodes the answer into out (if not nil).
func (s *server) call(method, path string, body any, out any) error {
	var rd io.Reader
	u := s.url + "/api/2.0/mlflow" + path
	if method == "GET" {
		u += "?" + body.(url.Values).Encode()
	} else if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return err
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: %d %.300s", method, path, resp.StatusCode, data)
	}
	if p, ok := out.(*[]byte); ok {
		*p = data
		return nil
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// callRetrying is call for a write, retried as the mlflow client retries
// it when the connection fails (MLflow's workers drop connections on a
// busy machine); an HTTP error is not retried.
func (s *server) callRetrying(method, path string, body any) error {
	var err error
	for try := 0; try < 5; try++ {
		if err = s.call(method, path, body, nil); err == nil || strings.Contains(err.Error(), path+": ") {
			return err
		}
		time.Sleep(time.Second << try)
	}
	return err
}

func (s *server) createExperiment(name string) (string, error) {
	var out struct {
		ID string `json:"experiment_id"`
	}
	err := s.call("POST", "/experiments/create", map[string]any{"name": name}, &out)
	return out.ID, err
}

func (s *server) createRun(exp string, startTime int64) (string, error) {
	var out struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	err := s.call("POST", "/runs/create", map[string]any{"experiment_id": exp, "start_time": startTime, "user_id": "bench",
		"tags": []map[string]string{{"key": "mlflow.user", "value": "bench"}}}, &out)
	return out.Run.Info.RunID, err
}

// batchBody is what the mlflow client sends for n metrics (10 keys), the
// same bytes as fmt's `{"key": "m%d", "value": %g, ...}`, written with
// strconv: the client shares the machine with the server, and should cost
// it as little as it can.
func batchBody(runID string, firstStep, n int) []byte {
	b := make([]byte, 0, 64+n*80)
	b = append(b, `{"run_id": "`+runID+`", "metrics": [`...)
	ts := time.Now().UnixMilli()
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		step := firstStep + i/10
		b = append(b, `{"key": "m`...)
		b = strconv.AppendInt(b, int64(i%10), 10)
		b = append(b, `", "value": `...)
		b = strconv.AppendFloat(b, 1.0/float64(step+1), 'g', -1, 64)
		b = append(b, `, "timestamp": `...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, `, "step": `...)
		b = strconv.AppendInt(b, int64(step), 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func bench(name string) (result, error) {
	var r result
	fmt.Fprintf(os.Stderr, "== %s\n", name)
	s, err := start(name)
	if err != nil {
		return r, err
	}
	defer s.stop()
	exp, err := s.createExperiment("bench")
	if err != nil {
		return r, err
	}
	for _, n := range []int{1, 8} {
		pps, err := logBatchThroughput(s, exp, n)
		if err != nil {
			return r, err
		}
		fmt.Fprintf(os.Stderr, "log-batch %d clients: %.0f points/s\n", n, pps)
		if n == 1 {
			r.batch1 = pps
		} else {
			r.batch8 = pps
		}
	}
	if r.history, r.historyServed, err = historyLatency(s, exp); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "get_metric_history: %v (less the client's decoding: %v)\n", r.history, r.historyServed)
	if r.search, err = searchLatency(s); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "search_runs: %v\n", r.search)
	return r, nil
}

func logBatchThroughput(s *server, exp string, clients int) (float64, error) {
	runs := make([]string, clients)
	for i := range runs {
		id, err := s.createRun(exp, time.Now().UnixMilli())
		if err != nil {
			return 0, err
		}
		runs[i] = id
	}
	var points atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	end := t0.Add(*duration)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(run string) {
			defer wg.Done()
			for step := 0; time.Now().Before(end); step += 100 {
				if err := s.callRetrying("POST", "/runs/log-batch", batchBody(run, step, 1000)); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				points.Add(1000)
			}
		}(runs[c])
	}
	wg.Wait()
	return float64(points.Load()) / time.Since(t0).Seconds(), firstErr
}

// historyLatency returns the median time to read the whole history, and
// the median of that time less the client's JSON decoding (the server's
// share and the transfer: what the servers differ in).
func historyLatency(s *server, exp string) (time.Duration, time.Duration, error) {
	run, err := s.createRun(exp, time.Now().UnixMilli())
	if err != nil {
		return 0, 0, err
	}
	ts := time.Now().UnixMilli()
	for lo := 0; lo < *nPoints; lo += 1000 {
		var b bytes.Buffer
		b.WriteString(`{"run_id": "` + run + `", "metrics": [`)
		for i := lo; i < min(lo+1000, *nPoints); i++ {
			if i > lo {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `{"key": "loss", "value": %g, "timestamp": %d, "step": %d}`, 1.0/float64(i+1), ts+int64(i), i)
		}
		b.WriteString("]}")
		if err := s.call("POST", "/runs/log-batch", b.Bytes(), nil); err != nil {
			return 0, 0, err
		}
	}
	var decoding time.Duration // of the last read
	read := func() error {
		n, token := 0, ""
		decoding = 0
		for {
			q := url.Values{"run_id": {run}, "run_uuid": {run}, "metric_key": {"loss"}, "max_results": {"25000"}}
			if token != "" {
				q.Set("page_token", token)
			}
			var page []byte
			if err := s.call("GET", "/metrics/get-history", q, &page); err != nil {
				return err
			}
			t0 := time.Now()
			var out struct {
				Metrics []json.RawMessage `json:"metrics"`
				Next    string            `json:"next_page_token"`
			}
			if err := json.Unmarshal(page, &out); err != nil {
				return err
			}
			decoding += time.Since(t0)
			n += len(out.Metrics)
			if token = out.Next; token == "" {
				break
			}
		}
		if n != *nPoints {
			return fmt.Errorf("history has %d points, want %d", n, *nPoints)
		}
		return nil
	}
	if err := read(); err != nil { // warm-up
		return 0, 0, err
	}
	var full, served []time.Duration
	for range *reps {
		t0 := time.Now()
		if err := read(); err != nil {
			return 0, 0, err
		}
		d := time.Since(t0)
		full, served = append(full, d), append(served, d-decoding)
	}
	slices.Sort(full)
	slices.Sort(served)
	return full[len(full)/2], served[len(served)/2], nil
}

func searchLatency(s *server) (time.Duration, error) {
	exp, err := s.createExperiment("search")
	if err != nil {
		return 0, err
	}
	// Seed with 8 concurrent writers, as a sweep would.
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	base := time.Now().UnixMilli() - int64(*nRuns)*1000
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *nRuns {
					return
				}
				run, err := s.createRun(exp, base+int64(i)*1000)
				if err != nil {
					errs <- err
					return
				}
				opt := []string{"adam", "sgd", "lamb"}[i%3]
				body := map[string]any{"run_id": run,
					"metrics": []map[string]any{
						{"key": "loss", "value": float64(i%1000) / 1000, "timestamp": base, "step": 0},
						{"key": "acc", "value": float64((i*7919)%1000) / 1000, "timestamp": base, "step": 0},
						{"key": "lr", "value": 0.001 * float64(i%10+1), "timestamp": base, "step": 0}},
					"params": []map[string]string{{"key": "opt", "value": opt}, {"key": "layers", "value": strconv.Itoa(i % 12)}, {"key": "seed", "value": strconv.Itoa(i)}},
					"tags":   []map[string]string{{"key": "team", "value": "vision"}, {"key": "sweep", "value": strconv.Itoa(i / 100)}},
				}
				if err := s.call("POST", "/runs/log-batch", body, nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	fmt.Fprintf(os.Stderr, "seeded %d runs in %v\n", *nRuns, time.Since(t0).Round(time.Millisecond))
	req := map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.loss < 0.5 and params.opt = 'adam'",
		"run_view_type": "ACTIVE_ONLY", "max_results": 100, "order_by": []string{"metrics.acc DESC"}}
	return median(*reps, func() error {
		var out struct {
			Runs []json.RawMessage `json:"runs"`
			Next string            `json:"next_page_token"`
		}
		if err := s.call("POST", "/runs/search", req, &out); err != nil {
			return err
		}
		if len(out.Runs) != 100 || out.Next == "" {
			return errors.New("search_runs answered " + strconv.Itoa(len(out.Runs)) + " runs without a next page")
		}
		return nil
	})
}

// median runs f n times (after one warm-up) and returns the median time.
func median(n int, f func() error) (time.Duration, error) {
	if err := f(); err != nil {
		return 0, err
	}
	var ds []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}
