// Command bigreq sends the largest metric requests the API takes, and
// larger, many at once, to a real trainyard server and reports its peak
// memory: the check that memory per request is bounded by design and no
// sequence of requests can exhaust the machine (target: peak RSS under
// 1 GiB with 16 concurrent maximum-size requests). While they run, it asks
// /api/v1/health every 100 ms to see that the server keeps answering.
//
//	go run ./bench/bigreq -bin bin/trainyard
//	go run ./bench/bigreq -bin /tmp/old/trainyard -concurrent 1 -cases over-points   # the old binary, one at a time
//
// -cap-as (default 8 GiB) caps the server's address space (RLIMIT_AS), so
// that a server that does not bound its memory dies of it rather than
// taking the shared machine with it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trainyard/trainyard/bench/benchserver"
	"golang.org/x/sys/unix"
)

var (
	bin        = flag.String("bin", "bin/trainyard", "trainyard binary")
	concurrent = flag.Int("concurrent", 16, "requests sent at once")
	waves      = flag.Int("waves", 2, "waves of -concurrent requests per case")
	casesF     = flag.String("cases", "over-points,max-series,max-rows,over-size,chunked", "cases to run")
	capAS      = flag.Int64("cap-as", 8<<30, "RLIMIT_AS of the server in bytes (0: none)")
	tmp        = flag.String("tmp", "", "directory for the data directory")
)

type bodyCase struct {
	name, what string
	body       []byte
	chunked    bool
	want       int // expected status
}

func main() {
	flag.Parse()
	srv, err := benchserver.Start(*bin, *tmp)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	if *capAS > 0 {
		lim := unix.Rlimit{Cur: uint64(*capAS), Max: uint64(*capAS)}
		if err := unix.Prlimit(srv.PID(), unix.RLIMIT_AS, &lim, nil); err != nil {
			log.Fatalf("cap the server's address space: %v", err)
		}
	}
	run := createRun(srv.URL)
	url := srv.URL + "/api/v1/runs/" + run + "/metrics"
	fmt.Printf("%s: %d requests at once, %d waves per case; RSS at start %.0f MB\n\n", *bin, *concurrent, *waves, benchserver.MemMB(srv.PID(), "VmRSS:"))
	fmt.Println("| case | body | statuses | answer median / max | peak RSS during | health max latency |")
	fmt.Println("|---|---|---|---|---:|---:|")
	want := map[string]bool{}
	for _, c := range strings.Split(*casesF, ",") {
		want[c] = true
	}
	for _, c := range cases() {
		if !want[c.name] {
			continue
		}
		if !srv.Alive() {
			fmt.Printf("| %s | %s | server dead | | | |\n", c.name, c.what)
			continue
		}
		sampler := benchserver.Sample(srv.PID(), 20*time.Millisecond)
		stop := make(chan struct{})
		healthMax := make(chan time.Duration)
		go probeHealth(srv.URL, stop, healthMax)
		statuses := map[string]int{}
		var times []float64
		var mu sync.Mutex
		for range *waves {
			var wg sync.WaitGroup
			for range *concurrent {
				wg.Add(1)
				go func() {
					defer wg.Done()
					t0 := time.Now()
					st := send(url, c)
					mu.Lock()
					statuses[st]++
					times = append(times, time.Since(t0).Seconds())
					mu.Unlock()
				}()
			}
			wg.Wait()
		}
		close(stop)
		hm := <-healthMax
		peak := sampler.Max()
		slices.Sort(times)
		var sts []string
		for k, v := range statuses {
			sts = append(sts, fmt.Sprintf("%d× %s", v, k))
		}
		slices.Sort(sts)
		fmt.Printf("| %s | %s | %s | %.2f s / %.2f s | %.0f MB | %s |\n", c.name, c.what, strings.Join(sts, ", "),
			times[len(times)/2], times[len(times)-1], peak, hm.Round(time.Millisecond))
	}
	if srv.Alive() {
		hwm := benchserver.MemMB(srv.PID(), "VmHWM:")
		time.Sleep(15 * time.Second)
		fmt.Printf("\nserver alive; peak RSS over the whole run (VmHWM) %.0f MB; RSS after 15 s idle %.0f MB\n", hwm, benchserver.MemMB(srv.PID(), "VmRSS:"))
	} else {
		out, _ := os.ReadFile(srv.Data + "/server.log")
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		fmt.Printf("\nthe server died; the first line of its last words: %.200s\n", firstFatal(lines))
	}
}

func cases() []bodyCase {
	var out []bodyCase
	// The body: 15 million values in the columnar form, 60 MB,
	// 14 times the point limit.
	{
		var b bytes.Buffer
		b.WriteString(`{"series":[{"key":"loss","values":[`)
		for i := range 15_000_000 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("0.5")
		}
		b.WriteString(`]}]}`)
		out = append(out, bodyCase{name: "over-points", what: fmt.Sprintf("columnar, 15M values, %d MB", b.Len()>>20), body: b.Bytes(), want: 413})
	}
	// The largest batch accepted: 1,048,576 points with steps and
	// timestamps, values with 17 digits.
	{
		const n = 1 << 20
		var b bytes.Buffer
		b.WriteString(`{"series":[`)
		for k := range 4 {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"key":"m%d","steps":[`, k)
			for i := range n / 4 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Itoa(i))
			}
			b.WriteString(`],"values":[`)
			for i := range n / 4 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatFloat(float64(i)/3, 'g', 17, 64))
			}
			b.WriteString(`],"timestamps":[`)
			for i := range n / 4 {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Itoa(1_700_000_000_000 + i))
			}
			b.WriteString(`]}`)
		}
		b.WriteString(`]}`)
		out = append(out, bodyCase{name: "max-series", what: fmt.Sprintf("columnar, %d points, %d MB", n, b.Len()>>20), body: b.Bytes(), want: 200})
	}
	// The row form, as large as the body limit allows.
	{
		var b bytes.Buffer
		b.WriteString(`{"points":[`)
		n := 0
		for ; b.Len() < 64<<20-200; n++ {
			if n > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"key":"m%d","value":%s,"step":%d,"timestamp":%d}`, n%8, strconv.FormatFloat(float64(n)/7, 'g', 17, 64), n/8, 1_700_000_000_000+n)
		}
		b.WriteString(`]}`)
		out = append(out, bodyCase{name: "max-rows", what: fmt.Sprintf("rows, %d points, %d MB", n, b.Len()>>20), body: b.Bytes(), want: 200})
	}
	// Over the body limit, which Content-Length tells up front.
	{
		body := bytes.Repeat([]byte(" "), 80<<20)
		out = append(out, bodyCase{name: "over-size", what: "80 MB with Content-Length", body: body, want: 413})
	}
	// 60 MB without Content-Length (chunked).
	out = append(out, bodyCase{name: "chunked", what: "columnar, 15M values, chunked", body: out[0].body, chunked: true, want: 413})
	return out
}

func send(url string, c bodyCase) string {
	var r io.Reader = bytes.NewReader(c.body)
	if c.chunked {
		r = io.MultiReader(r) // hides the length: sent chunked
	}
	req, _ := http.NewRequest("POST", url, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "error: " + strings.SplitN(err.Error(), ": ", 3)[len(strings.SplitN(err.Error(), ": ", 3))-1]
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(b, &e)
	if e.Error.Code != "" {
		return strconv.Itoa(resp.StatusCode) + " " + e.Error.Code
	}
	return strconv.Itoa(resp.StatusCode)
}

func probeHealth(url string, stop chan struct{}, out chan<- time.Duration) {
	var worst time.Duration
	c := &http.Client{Timeout: 60 * time.Second}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			out <- worst
			return
		case <-t.C:
		}
		t0 := time.Now()
		resp, err := c.Get(url + "/api/v1/health")
		d := time.Since(t0)
		if err == nil {
			resp.Body.Close()
		} else {
			d = 60 * time.Second
		}
		worst = max(worst, d)
	}
}

func createRun(url string) string {
	resp, err := http.Post(url+"/api/v1/runs", "application/json", strings.NewReader(`{"project":"bigreq"}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.ID == "" {
		fmt.Fprintln(os.Stderr, "create run:", resp.Status, err)
		os.Exit(1)
	}
	return r.ID
}

// firstFatal finds the runtime's fatal error among a dead server's output.
func firstFatal(lines []string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error") || strings.HasPrefix(l, "runtime:") {
			return l
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return "(none)"
}
