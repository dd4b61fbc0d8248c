// Command sdkload puts the load of many Python SDK clients on a real
// trainyard server and measures what each client waits for its batches,
// and the server's memory during the load and after it, when idle.
//
// Each client is what trainyard.init() and run.log() do on the wire: it
// creates a run, then logs -keys metrics every -interval, and its sender
// posts what accumulated every -flush as one columnar batch with a
// batch_id, on a new connection (the SDK's http.client does not keep
// connections alive). With -phase aligned every client flushes at the
// same instant (runs started together, as in a sweep); with spread each
// has its own phase.
//
//	go run ./bench/sdkload -bin bin/trainyard [-clients 1000] [-phase spread,aligned]
//	go run ./bench/sdkload -bin bin/trainyard -compare /tmp/old/trainyard   # both, interleaved
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trainyard/trainyard/bench/benchserver"
)

var (
	bin       = flag.String("bin", "bin/trainyard", "trainyard binary")
	compare   = flag.String("compare", "", "a second binary, measured in turn with -bin (before/after)")
	clients   = flag.Int("clients", 1000, "SDK clients")
	interval  = flag.Duration("interval", 100*time.Millisecond, "how often each client logs its metrics")
	flush     = flag.Duration("flush", time.Second, "how often each client's sender posts a batch (the SDK's flush_interval)")
	keys      = flag.Int("keys", 5, "metrics logged each time")
	duration  = flag.Duration("duration", 30*time.Second, "length of the load (the first 5 s are a warm-up, not counted)")
	idle      = flag.Duration("idle", 20*time.Second, "how long to wait after the load before reading the idle RSS")
	phases    = flag.String("phase", "spread,aligned", "client phases to run: spread, aligned")
	rounds    = flag.Int("rounds", 1, "rounds of each (binary, phase); medians are reported")
	tmp       = flag.String("tmp", "", "directory for data directories (default the system's)")
	keepAlive = flag.Bool("keepalive", false, "keep connections alive (the Python SDK does not)")
	syncMode  = flag.String("sync", "FULL", "the server's --sync: FULL fsyncs every commit (latency then includes the disk's); NORMAL does not")
)

type result struct {
	fsync50, fsync99   float64 // ms: the data disk's fsync, measured before the load
	p50, p90, p99, max float64 // ms
	sent, failed       int
	rssStart, rssPeak  float64 // MB
	rssIdle            float64
}

func main() {
	flag.Parse()
	bins := []string{*bin}
	if *compare != "" {
		bins = append(bins, *compare)
	}
	fmt.Printf("%d clients, each logging %d metrics every %v and posting every %v (%s of load, %s idle)\n\n",
		*clients, *keys, *interval, *flush, *duration, *idle)
	fmt.Printf("server: --sync %s\n\n", *syncMode)
	fmt.Println("| binary | phase | disk fsync p50 / p99 ms | p50 ms | p90 ms | p99 ms | max ms | batches | failed | RSS start MB | RSS peak MB | RSS after idle MB |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	all := map[string][]result{}
	var order []string
	for r := 0; r < *rounds; r++ {
		for _, phase := range strings.Split(*phases, ",") {
			for _, b := range bins {
				res := run(b, phase)
				k := b + " " + phase
				if _, ok := all[k]; !ok {
					order = append(order, k)
				}
				all[k] = append(all[k], res)
				fmt.Printf("| %s | %s | %.1f / %.1f | %.1f | %.1f | %.1f | %.0f | %d | %d | %.0f | %.0f | %.0f |\n",
					b, phase, res.fsync50, res.fsync99, res.p50, res.p90, res.p99, res.max, res.sent, res.failed, res.rssStart, res.rssPeak, res.rssIdle)
			}
		}
	}
	if *rounds > 1 {
		fmt.Println("\nmedians:")
		for _, k := range order {
			rs := all[k]
			med := func(f func(result) float64) float64 {
				xs := make([]float64, len(rs))
				for i, r := range rs {
					xs[i] = f(r)
				}
				slices.Sort(xs)
				return xs[len(xs)/2]
			}
			fmt.Printf("| %s | p50 %.1f | p99 %.1f | peak %.0f MB | idle %.0f MB |\n", k,
				med(func(r result) float64 { return r.p50 }), med(func(r result) float64 { return r.p99 }),
				med(func(r result) float64 { return r.rssPeak }), med(func(r result) float64 { return r.rssIdle }))
		}
	}
}

func run(binary, phase string) result {
	srv, err := benchserver.Start(binary, *tmp, "--sync", *syncMode)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	var res result
	res.fsync50, res.fsync99 = fsyncLatency(srv.Data)
	res.rssStart = benchserver.MemMB(srv.PID(), "VmRSS:")
	// Like the SDK: a new connection per request.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: !*keepAlive, MaxIdleConnsPerHost: *clients}, Timeout: 60 * time.Second}
	runs := make([]string, *clients)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range runs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			runs[i] = createRun(hc, srv.URL, i)
		}()
	}
	wg.Wait()

	sampler := benchserver.Sample(srv.PID(), 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	start := time.Now()
	warm := start.Add(5 * time.Second)
	var mu sync.Mutex
	var lat []float64
	perFlush := int(*flush / *interval)
	for i, id := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The first flush: at the next whole flush interval for
			// aligned clients, at a random point within one for spread.
			first := start.Truncate(*flush).Add(*flush)
			if phase == "spread" {
				first = start.Add(time.Duration(mrand.Int64N(int64(*flush))))
			}
			step := int64(0)
			for next := first; ; next = next.Add(*flush) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				body := batch(i, &step, perFlush)
				t0 := time.Now()
				ok := post(hc, srv.URL+"/api/v1/runs/"+id+"/metrics", body)
				ms := float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				if t0.After(warm) {
					lat = append(lat, ms)
					res.sent++
					if !ok {
						res.failed++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.rssPeak = sampler.Max()
	time.Sleep(*idle)
	res.rssIdle = benchserver.MemMB(srv.PID(), "VmRSS:")
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	res.p50, res.p90, res.p99, res.max = pct(0.5), pct(0.9), pct(0.99), pct(1)
	return res
}

func createRun(hc *http.Client, url string, i int) string {
	body, _ := json.Marshal(map[string]any{"project": "sdkload", "name": fmt.Sprintf("client-%d", i),
		"config": map[string]any{"lr": 0.001, "batch_size": 64, "client": i}})
	for attempt := 0; ; attempt++ {
		resp, err := hc.Post(url+"/api/v1/runs", "application/json", bytes.NewReader(body))
		if err == nil {
			var r struct{ ID string }
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if err == nil && r.ID != "" {
				return r.ID
			}
		}
		if attempt == 10 {
			log.Fatalf("create run: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// batch is what the SDK's sender posts after perFlush log calls of -keys
// metrics: the columnar form, with a batch_id.
func batch(client int, step *int64, perFlush int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"series":[`)
	for k := range *keys {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"train/metric_%d","steps":[`, k)
		for i := range perFlush {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(*step+int64(i), 10))
		}
		b.WriteString(`],"values":[`)
		for i := range perFlush {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(mrand.Float64(), 'g', -1, 64))
		}
		b.WriteString(`],"timestamps":[`)
		now := time.Now().UnixMilli()
		for i := range perFlush {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(now-int64((perFlush-1-i))*interval.Milliseconds(), 10))
		}
		b.WriteString(`]}`)
	}
	*step += int64(perFlush)
	var id [16]byte
	rand.Read(id[:])
	fmt.Fprintf(&b, `],"batch_id":"%s"}`, hex.EncodeToString(id[:]))
	_ = client
	return b.Bytes()
}

func post(hc *http.Client, url string, body []byte) bool {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, "post:", err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// fsyncLatency times 100 appends of 16 KiB and fsyncs in dir: the floor
// under a durable commit's latency on this disk, now.
func fsyncLatency(dir string) (p50, p99 float64) {
	f, err := os.CreateTemp(dir, "fsync")
	if err != nil {
		return 0, 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	b := make([]byte, 16<<10)
	var d []float64
	for range 100 {
		t0 := time.Now()
		f.Write(b)
		f.Sync()
		d = append(d, float64(time.Since(t0).Microseconds())/1000)
		time.Sleep(5 * time.Millisecond)
	}
	slices.Sort(d)
	return d[50], d[98]
}
