// Command ingest measures trainyard's core targets against a real server:
// metric ingestion through the HTTP API from 1, 8 and 64 clients (durable:
// every batch is acknowledged after its commit), reading a 1,000,000-point
// series downsampled to 1,000 points, submit → process started, start to
// ready, idle RSS and binary size. It prints a markdown table; medians of
// -rounds rounds.
//
//	go run ./bench/ingest -bin bin/trainyard
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

var (
	bin      = flag.String("bin", "bin/trainyard", "trainyard binary")
	rounds   = flag.Int("rounds", 3, "rounds per measurement (the median is reported)")
	duration = flag.Duration("duration", 5*time.Second, "length of one ingestion round")
	batch    = flag.Int("batch", 10000, "points per request")
	syncMode = flag.String("sync", "FULL", "server durability (FULL or NORMAL)")
	only     = flag.String("only", "", "run only measurements whose name contains this")
	profile  = flag.String("profile", "", "write the servers' CPU profiles to this file prefix")
	clientsF = flag.String("clients", "1,8,64", "client counts for ingestion")
	formsF   = flag.String("forms", "rows,series", "batch forms for ingestion")
	nstart   = 0
)

type server struct {
	url  string
	cmd  *exec.Cmd
	c    *client.Client
	data string
}

func start(data string, extra ...string) (*server, time.Duration) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"up", "--addr", addr, "--data", data, "--nvidia-smi", "none", "--sync", *syncMode, "--log-level", "warn"}, extra...)
	cmd := exec.Command(*bin, args...)
	cmd.Stderr = io.Discard
	if *profile != "" {
		nstart++
		cmd.Env = append(os.Environ(), fmt.Sprintf("TRAINYARD_CPUPROFILE=%s.%d", *profile, nstart))
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	s := &server{url: "http://" + addr, cmd: cmd, c: client.New("http://"+addr, ""), data: data}
	for {
		resp, err := http.Get(s.url + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(t0) > 20*time.Second {
			log.Fatal("server did not start")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return s, time.Since(t0)
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// rowsBody is a batch in the row form the SDK sends.
func rowsBody(step *int64, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"points":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"m%d","value":%g,"step":%d,"timestamp":%d}`, i%10, float64(*step)*0.001, *step, 1_700_000_000_000+*step)
		if i%10 == 9 {
			*step++
		}
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// seriesBody is a batch in the columnar form.
func seriesBody(step *int64, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"series":[`)
	per := n / 10
	for k := range 10 {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"m%d","steps":[`, k)
		for i := range per {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(*step+int64(i), 10))
		}
		b.WriteString(`],"values":[`)
		for i := range per {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(float64(*step+int64(i))*0.001, 'g', -1, 64))
		}
		b.WriteString(`],"timestamps":[`)
		for i := range per {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(1_700_000_000_000+*step+int64(i), 10))
		}
		b.WriteString(`]}`)
	}
	*step += int64(per)
	b.WriteString(`]}`)
	return b.Bytes()
}

// ingest runs clients for the duration, each appending pre-built batches
// to its own run, and returns acknowledged points per second.
func ingest(s *server, clients int, form string) float64 {
	ctx := context.Background()
	const prebuilt = 8
	var total atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(*duration)
	t0 := time.Now()
	for c := range clients {
		r, err := s.c.CreateRun(ctx, trainyard.NewRun{Project: "bench", Name: fmt.Sprintf("c%d", c)})
		if err != nil {
			log.Fatal(err)
		}
		bodies := make([][]byte, prebuilt)
		step := int64(0)
		for i := range bodies {
			if form == "rows" {
				bodies[i] = rowsBody(&step, *batch)
			} else {
				bodies[i] = seriesBody(&step, *batch)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			runID := r.ID
			for i := 0; time.Now().Before(deadline); i++ {
				if i > 0 && i%prebuilt == 0 {
					// The bodies come round again: to a new run, so that
					// every batch holds new points (a store keeps one copy
					// of a point identical to a stored one, and would skip
					// them).
					r, err := s.c.CreateRun(ctx, trainyard.NewRun{Project: "bench", Name: fmt.Sprintf("c%d-%d", c, i)})
					if err != nil {
						log.Fatal(err)
					}
					runID = r.ID
				}
				resp, err := hc.Post(s.url+"/api/v1/runs/"+runID+"/metrics", "application/json", bytes.NewReader(bodies[i%prebuilt]))
				if err != nil {
					log.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					log.Fatalf("append: %s", resp.Status)
				}
				total.Add(int64(*batch))
			}
		}()
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(t0).Seconds()
}

func want(name string) bool { return *only == "" || strings.Contains(name, *only) }

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "trainyard-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	fmt.Printf("| measurement | median | rounds | target |\n|---|---|---|---|\n")

	if want("ingest") {
		for _, form := range strings.Split(*formsF, ",") {
			for _, cs := range strings.Split(*clientsF, ",") {
				clients, _ := strconv.Atoi(cs)
				var rates []float64
				for r := range *rounds {
					s, _ := start(filepath.Join(tmp, fmt.Sprintf("ingest-%s-%d-%d", form, clients, r)))
					rates = append(rates, ingest(s, clients, form))
					s.stop()
				}
				fmt.Printf("| ingest, %d client(s), %s form, %d-point batches, sync=%s | %.0f points/s | %s | ≥ 1,000,000 |\n",
					clients, form, *batch, *syncMode, median(rates), fmtAll(rates, "%.0f"))
			}
		}
	}

	if want("read") {
		s, _ := start(filepath.Join(tmp, "read"))
		ctx := context.Background()
		r, _ := s.c.CreateRun(ctx, trainyard.NewRun{Project: "bench"})
		step := int64(0)
		for range 10 { // 10 × 100,000 points of one key
			var b bytes.Buffer
			b.WriteString(`{"series":[{"key":"loss","steps":[`)
			for i := range 100_000 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatInt(step+int64(i), 10))
			}
			b.WriteString(`],"values":[`)
			for i := range 100_000 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%g", 1/(1+float64(step+int64(i))*1e-4))
			}
			b.WriteString(`]}]}`)
			step += 100_000
			if _, err := s.c.AppendMetrics(ctx, r.ID, b.Bytes()); err != nil {
				log.Fatal(err)
			}
		}
		var ms []float64
		for range 30 {
			t0 := time.Now()
			resp, err := http.Get(s.url + "/api/v1/runs/" + r.ID + "/metrics/loss?max_points=1000")
			if err != nil {
				log.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n < 1000 {
				log.Fatalf("read: %s", resp.Status)
			}
			ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
		}
		fmt.Printf("| read 1,000,000-point series downsampled to 1,000 (HTTP, JSON) | %.1f ms (p95 %.1f) | 30 | < 50 ms |\n", median(ms), percentile(ms, 0.95))
		s.stop()
	}

	if want("submit") {
		s, _ := start(filepath.Join(tmp, "submit"))
		ctx := context.Background()
		var ms []float64
		for range 40 {
			t0 := time.Now()
			j, err := s.c.Submit(ctx, trainyard.JobSpec{Command: []string{"date", "+%s%N"}, Workdir: tmp})
			if err != nil {
				log.Fatal(err)
			}
			for {
				j, _ = s.c.Job(ctx, j.ID)
				if j.State.Terminal() {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			body, err := s.c.Logs(ctx, j.ID, 0, false)
			if err != nil {
				log.Fatal(err)
			}
			out, _ := io.ReadAll(body)
			body.Close()
			ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
			if err != nil {
				log.Fatalf("job output %q", out)
			}
			ms = append(ms, float64(time.Unix(0, ns).Sub(t0).Microseconds())/1000)
		}
		fmt.Printf("| submit → process started (local executor) | %.1f ms (p95 %.1f) | 40 | < 50 ms |\n", median(ms), percentile(ms, 0.95))
		s.stop()
	}

	if want("start") {
		var ready, rss []float64
		for r := range 7 {
			s, d := start(filepath.Join(tmp, fmt.Sprintf("start-%d", r)))
			ready = append(ready, float64(d.Microseconds())/1000)
			time.Sleep(time.Second)
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
					rss = append(rss, kb/1024)
				}
			}
			s.stop()
		}
		fmt.Printf("| server start to ready (new data dir) | %.0f ms | 7 | < 500 ms |\n", median(ready))
		fmt.Printf("| idle RSS after start | %.1f MB | 7 | < 60 MB |\n", median(rss))
		if st, err := os.Stat(*bin); err == nil {
			fmt.Printf("| binary size | %.1f MB | 1 | < 60 MB |\n", float64(st.Size())/1e6)
		}
	}
}

func fmtAll(xs []float64, f string) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf(f, x))
	}
	return strings.Join(parts, ", ")
}
