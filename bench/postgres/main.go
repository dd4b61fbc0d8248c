// Command postgres measures trainyard on PostgreSQL against SQLite on the
// same machine, in one run (issue 11):
//
//   - ingest: -clients clients append 10,000-point batches (columnar form)
//     to runs of their own through the HTTP API of `trainyard up`, durable
//     on both (SQLite --sync FULL; PostgreSQL with fsync and
//     synchronous_commit on, its defaults). Every batch holds new points
//     (steps only grow), so none is skipped as a copy of a stored point.
//     Points/s; rounds alternate between the stores, a new database each.
//   - search: a filtered, ordered run search over -runs runs in the store
//     itself (SQLite answers from its index in memory, PostgreSQL compiles
//     the search to SQL): params.lr = '0.001' AND metrics.loss < 0.5 ORDER
//     BY metrics.loss, 100 runs a page; and the next page by its token.
//
// It prints a markdown table of medians.
//
//	go run ./bench/postgres -bin bin/trainyard
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
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
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/postgres"
	"github.com/trainyard/trainyard/sqlite"
)

var (
	bin      = flag.String("bin", "bin/trainyard", "trainyard binary")
	rounds   = flag.Int("rounds", 3, "ingestion rounds per store (the median is reported)")
	duration = flag.Duration("duration", 5*time.Second, "length of one ingestion round")
	clients  = flag.Int("clients", 8, "ingesting clients")
	bodies   = flag.Int("bodies", 160, "batches each client builds before a round (more are built on the fly)")
	nruns    = flag.Int("runs", 100_000, "runs for the search")
	searches = flag.Int("searches", 50, "searches timed per store")
	only     = flag.String("only", "", "ingest or search: run only that")
)

const batch = 10_000

func main() {
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()
	var rows []string
	if *only == "" || *only == "ingest" {
		rows = append(rows, benchIngest(ctx)...)
	}
	if *only == "" || *only == "search" {
		rows = append(rows, benchSearch(ctx)...)
	}
	fmt.Println("| measurement | SQLite | PostgreSQL | PostgreSQL / SQLite |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Println(r)
	}
}

func benchIngest(ctx context.Context) []string {
	pg, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Stop()
	var lite, post []float64
	for r := range *rounds {
		for _, onPG := range []bool{false, true} {
			data, err := os.MkdirTemp("", "trainyard-bench-")
			if err != nil {
				log.Fatal(err)
			}
			var extra []string
			if onPG {
				url, err := pg.CreateDatabase(ctx)
				if err != nil {
					log.Fatal(err)
				}
				extra = []string{"--db", url}
			}
			s := start(data, extra...)
			pps := ingest(ctx, s)
			s.stop()
			os.RemoveAll(data)
			if onPG {
				post = append(post, pps)
			} else {
				lite = append(lite, pps)
			}
			log.Printf("round %d, postgres=%v: %.0f points/s", r+1, onPG, pps)
		}
	}
	return []string{fmt.Sprintf("| ingest, %d clients, 10,000-point batches, durable (points/s) | **%s** (%s) | **%s** (%s) | %.2f |",
		*clients, thousands(median(lite)), all(lite, thousands), thousands(median(post)), all(post, thousands), median(post)/median(lite))}
}

type server struct {
	url string
	cmd *exec.Cmd
}

func start(data string, extra ...string) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"up", "--addr", addr, "--data", data, "--nvidia-smi", "none", "--sync", "FULL", "--log-level", "warn"}, extra...)
	cmd := exec.Command(*bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	s := &server{url: "http://" + addr, cmd: cmd}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(s.url + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			log.Fatalf("trainyard up %v did not answer within 60 s", args)
		}
	}
}

func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

// body is a batch in the columnar form: 10 series of 1,000 points, steps
// from *step on.
func body(step *int64) []byte {
	var b bytes.Buffer
	b.Grow(300_000)
	b.WriteString(`{"series":[`)
	per := batch / 10
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

// ingest runs the clients for the duration and returns points/s.
func ingest(ctx context.Context, s *server) float64 {
	c := client.New(s.url, "")
	type worker struct {
		run    string
		step   int64
		bodies [][]byte
	}
	ws := make([]*worker, *clients)
	for i := range ws {
		r, err := c.CreateRun(ctx, trainyard.NewRun{Project: "bench", Name: fmt.Sprintf("c%d", i)})
		if err != nil {
			log.Fatal(err)
		}
		w := &worker{run: r.ID}
		for range *bodies {
			w.bodies = append(w.bodies, body(&w.step))
		}
		ws[i] = w
	}
	var total, onTheFly atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	deadline := t0.Add(*duration)
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			for i := 0; time.Now().Before(deadline); i++ {
				b := w.bodies[min(i, len(w.bodies)-1)]
				if i >= len(w.bodies) {
					b = body(&w.step)
					onTheFly.Add(1)
				}
				resp, err := hc.Post(s.url+"/api/v1/runs/"+w.run+"/metrics", "application/json", bytes.NewReader(b))
				if err != nil {
					log.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					log.Fatalf("append: %s", resp.Status)
				}
				total.Add(batch)
			}
		}()
	}
	wg.Wait()
	if n := onTheFly.Load(); n > 0 {
		log.Printf("  (%d batches built during the round: raise -bodies)", n)
	}
	return float64(total.Load()) / time.Since(t0).Seconds()
}

func benchSearch(ctx context.Context) []string {
	// Search time does not depend on fsync: the runs load faster without.
	pg, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Stop()
	url, err := pg.CreateDatabase(ctx)
	if err != nil {
		log.Fatal(err)
	}
	ps, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer ps.Close()
	dir, err := os.MkdirTemp("", "trainyard-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ls, err := sqlite.Open(ctx, filepath.Join(dir, "trainyard.db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		log.Fatal(err)
	}
	defer ls.Close()

	q := trainyard.RunSearch{
		Filter: []trainyard.RunClause{
			{Kind: trainyard.RunParam, Key: "lr", Op: "=", Str: "0.001"},
			{Kind: trainyard.RunMetric, Key: "loss", Op: "<", Str: "0.5", Num: 0.5, IsNum: true},
		},
		Order: []trainyard.RunOrder{{Kind: trainyard.RunMetric, Key: "loss"}},
		Limit: 100,
	}
	var out [2][2][]float64 // store × (first page, next page)
	var matches [2]int
	for i, s := range []trainyard.Store{ls, ps} {
		t0 := time.Now()
		load(ctx, s)
		log.Printf("loaded %d runs into %T in %v", *nruns, s, time.Since(t0).Round(time.Second))
		first, next, err := s.SearchRuns(ctx, q) // warms SQLite's index
		if err != nil {
			log.Fatal(err)
		}
		matches[i] = len(first)
		for range *searches {
			t := time.Now()
			if _, next, err = s.SearchRuns(ctx, q); err != nil {
				log.Fatal(err)
			}
			out[i][0] = append(out[i][0], ms(time.Since(t)))
			q2 := q
			q2.PageToken = next
			t = time.Now()
			if _, _, err := s.SearchRuns(ctx, q2); err != nil {
				log.Fatal(err)
			}
			out[i][1] = append(out[i][1], ms(time.Since(t)))
		}
	}
	if matches[0] != matches[1] {
		log.Fatalf("the stores answered %d and %d runs", matches[0], matches[1])
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) + " ms" }
	return []string{
		fmt.Sprintf("| search over %s runs, filter + order, first page of 100, p50 (p95) | **%s** (%s) | **%s** (%s) | %.2f |", thousands(float64(*nruns)),
			f(median(out[0][0])), f(percentile(out[0][0], 0.95)), f(median(out[1][0])), f(percentile(out[1][0], 0.95)), median(out[1][0])/median(out[0][0])),
		fmt.Sprintf("| the same search, next page by its token, p50 (p95) | **%s** (%s) | **%s** (%s) | %.2f |",
			f(median(out[0][1])), f(percentile(out[0][1], 0.95)), f(median(out[1][1])), f(percentile(out[1][1], 0.95)), median(out[1][1])/median(out[0][1])),
	}
}

// load stores -runs runs in 10 projects: params lr (one of 10 values) and
// batch, a tag, and a loss and an accuracy point each. The same seed makes
// the same runs in both stores.
func load(ctx context.Context, s trainyard.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	lrs := []string{"0.1", "0.03", "0.01", "0.003", "0.001", "0.0003", "0.0001", "3e-05", "1e-05", "3e-06"}
	type rec struct {
		run  *trainyard.Run
		loss float64
		acc  float64
	}
	recs := make(chan rec, 256)
	go func() {
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range *nruns {
			created := t0.Add(time.Duration(i) * time.Second)
			recs <- rec{
				run: &trainyard.Run{ID: fmt.Sprintf("r%06d", i), Project: fmt.Sprintf("p%d", i%10), Name: fmt.Sprintf("run-%d", i),
					State: trainyard.StateSucceeded, Config: map[string]any{"lr": lrs[rng.IntN(len(lrs))], "batch": float64(int(16) << rng.IntN(5))},
					Tags: map[string]string{"team": string(rune('a' + rng.IntN(5)))}, Summary: map[string]any{},
					CreatedAt: created, StartedAt: created},
				loss: rng.Float64(), acc: rng.Float64(),
			}
		}
		close(recs)
	}()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range recs {
				if err := s.CreateRun(ctx, r.run); err != nil {
					log.Fatal(err)
				}
				ms := r.run.CreatedAt.UnixMilli()
				err := s.AppendMetrics(ctx, r.run.ID, []trainyard.SeriesPoints{
					{Key: "loss", Steps: []int64{0}, Values: []float64{r.loss}, Times: []int64{ms}},
					{Key: "acc", Steps: []int64{0}, Values: []float64{r.acc}, Times: []int64{ms}},
				})
				if err != nil {
					log.Fatal(err)
				}
			}
		}()
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 { return percentile(xs, 0.5) }

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func all(xs []float64, f func(float64) string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = f(x)
	}
	return strings.Join(parts, " · ")
}

func thousands(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
