// Command submit measures sustained job submissions through the API on the
// local executor with the queue only (issue 10's target: ≥ 1,000 jobs/s):
// a server whose one CPU is held by a running job, and N clients that
// submit jobs which wait in the queue. Every submission is acknowledged
// after its commit. It prints a markdown table; medians of -rounds rounds.
//
//	go run ./bench/submit -bin bin/trainyard
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	bin      = flag.String("bin", "bin/trainyard", "trainyard binary")
	rounds   = flag.Int("rounds", 3, "rounds (the median is reported)")
	duration = flag.Duration("duration", 5*time.Second, "length of one round")
	clientsF = flag.String("clients", "1,8,32", "client counts")
)

func main() {
	flag.Parse()
	fmt.Println("| clients | jobs/s (median of", *rounds, ") | p50 latency | p99 latency |")
	fmt.Println("|---|---|---|---|")
	for _, c := range strings.Split(*clientsF, ",") {
		var n int
		fmt.Sscan(c, &n)
		var rates []float64
		var p50s, p99s []time.Duration
		for range *rounds {
			rate, p50, p99 := round(n)
			rates, p50s, p99s = append(rates, rate), append(p50s, p50), append(p99s, p99)
		}
		slices.Sort(rates)
		slices.Sort(p50s)
		slices.Sort(p99s)
		m := len(rates) / 2
		fmt.Printf("| %d | %.0f | %v | %v |\n", n, rates[m], p50s[m].Round(10*time.Microsecond), p99s[m].Round(10*time.Microsecond))
	}
}

// round starts a fresh server, fills its only CPU, and submits from n
// clients for -duration.
func round(n int) (float64, time.Duration, time.Duration) {
	data, err := os.MkdirTemp("", "trainyard-bench-submit")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(data)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(*bin, "up", "--addr", addr, "--data", data, "--nvidia-smi", "none", "--cpus", "1", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	url := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(url + "/api/v1/health"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			log.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	post := func(body string) (time.Duration, string) {
		t0 := time.Now()
		resp, err := http.Post(url+"/api/v1/jobs", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			log.Fatal(err)
		}
		var j struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&j)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			log.Fatalf("submit: %s", resp.Status)
		}
		return time.Since(t0), j.ID
	}
	// The blocker holds the one CPU; everything after it waits.
	_, blocker := post(`{"command":["sleep","600"],"resources":{"cpus":1},"workdir":"/tmp"}`)
	time.Sleep(200 * time.Millisecond)
	defer func() { // stop it, so that its sleep does not outlive the round
		resp, err := http.Post(url+"/api/v1/jobs/"+blocker+"/cancel", "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var done atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	body := `{"command":["true"],"resources":{"cpus":1},"workdir":"/tmp"}`
	t0 := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				d, _ := post(body)
				mine = append(mine, d)
				done.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	slices.Sort(lat)
	return float64(done.Load()) / el.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}
