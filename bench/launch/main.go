// Command launch measures what `trainyard run --launch torchrun` costs
// against plain `torchrun --nproc-per-node N` on the same machine (issue
// 10's target: < 5 % of the wall time of a 30 s job). Each round runs the
// same fixed amount of work both ways, alternating which goes first, and
// times the whole command: process start to exit, including rendezvous.
//
//	go run ./bench/launch -bin bin/trainyard -python ~/.cache/trainyard/torch-*/bin/python
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

var (
	bin    = flag.String("bin", "bin/trainyard", "trainyard binary")
	python = flag.String("python", "", "a Python with PyTorch (make deps-torch)")
	procs  = flag.Int("procs", 4, "ranks")
	iters  = flag.Int("iters", 0, "all-reduces per rank (0: calibrate to -target)")
	target = flag.Duration("target", 30*time.Second, "wall time of one run when calibrating")
	rounds = flag.Int("rounds", 5, "rounds (the median is reported)")
)

func main() {
	flag.Parse()
	if *python == "" {
		log.Fatal("-python: give a Python with PyTorch (make deps-torch installs one)")
	}
	job, err := filepath.Abs("bench/launch/job.py")
	if err != nil {
		log.Fatal(err)
	}
	torchrun := filepath.Join(filepath.Dir(*python), "torchrun")
	data, _ := os.MkdirTemp("", "trainyard-bench-launch")
	defer os.RemoveAll(data)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(*bin, "up", "--addr", addr, "--data", data, "--nvidia-smi", "none", "--log-level", "warn")
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	url := "http://" + addr
	for i := 0; ; i++ {
		if r, err := http.Get(url + "/api/v1/health"); err == nil {
			r.Body.Close()
			break
		}
		if i > 200 {
			log.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	plain := func(n int) *exec.Cmd {
		return exec.Command(torchrun, "--standalone", fmt.Sprintf("--nproc-per-node=%d", *procs), job, fmt.Sprint(n))
	}
	viaTrainyard := func(n int) *exec.Cmd {
		c := exec.Command(*bin, "run", "--wait", "--cpus", "0", "--launch", "torchrun", "--procs-per-node", fmt.Sprint(*procs),
			"--", *python, job, fmt.Sprint(n))
		c.Env = append(os.Environ(), "TRAINYARD_URL="+url)
		return c
	}
	timeIt := func(c *exec.Cmd) time.Duration {
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		t0 := time.Now()
		if err := c.Run(); err != nil {
			log.Fatalf("%v: %v\n%s", c.Args, err, out.String())
		}
		return time.Since(t0)
	}

	n := *iters
	if n == 0 { // calibrate: time 200 iterations, scale to the target
		d := timeIt(plain(200))
		n = max(200, int(float64(200)*target.Seconds()/d.Seconds()))
		log.Printf("calibrated: %d all-reduces per rank ≈ %v", n, *target)
	}
	var a, b, ratio []float64
	for r := range *rounds {
		var ta, tb time.Duration
		if r%2 == 0 {
			ta, tb = timeIt(plain(n)), timeIt(viaTrainyard(n))
		} else {
			tb, ta = timeIt(viaTrainyard(n)), timeIt(plain(n))
		}
		log.Printf("round %d: torchrun %v, trainyard %v", r+1, ta.Round(time.Millisecond), tb.Round(time.Millisecond))
		a, b = append(a, ta.Seconds()), append(b, tb.Seconds())
		ratio = append(ratio, tb.Seconds()/ta.Seconds())
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	fmt.Printf("| ranks | all-reduces per rank | plain torchrun (median) | trainyard --launch torchrun (median) | ratio (median of rounds) |\n|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %.2f s | %.2f s | %.3f |\n", *procs, n, med(a), med(b), med(ratio))
}
