// Command s3artifacts measures S3 artifact transfers through trainyard
// against the client library alone, on one machine in one run: a real
// S3-compatible server (SeaweedFS, internal/s3test), a file of -size
// bytes (default 1 GiB) on local disk, and for each of -rounds rounds
//
//   - direct upload: minio-go's PutObject of the file (its defaults:
//     parts of 16 MiB, 4 at a time), then direct download: GetObject,
//     read to the end;
//   - through trainyard: `trainyard up --artifacts s3://...`, the file PUT
//     to /api/v1/runs/RUN/artifacts/PATH (streamed; trainyard streams it
//     on in parts), then GET of the same path;
//   - -downloads times more, each direct download followed by one through
//     trainyard (pairs: the median of their ratios is steadier than the
//     ratio of medians on a busy machine).
//
// It reports each direction's median throughput, the ratio (target: at
// least 80 % of direct), and the server's RSS: at rest before a transfer
// and its peak during it (target: under 100 MB more than at rest). The
// peak comes from /proc/PID/status VmHWM, reset before each transfer
// through /proc/PID/clear_refs.
//
//	go run ./bench/s3artifacts -bin bin/trainyard
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/trainyard/trainyard/bench/benchserver"
	"github.com/trainyard/trainyard/internal/s3test"
)

var (
	bin    = flag.String("bin", "bin/trainyard", "trainyard binary")
	size   = flag.Int64("size", 1<<30, "file size in bytes")
	rounds = flag.Int("rounds", 3, "rounds of the four transfers")
	downs  = flag.Int("downloads", 1, "download pairs (direct, through trainyard) in each round: more for steadier download medians on a busy machine")
	tmp    = flag.String("tmp", "", "directory for the file and data directories (default $TMPDIR)")
)

func main() {
	flag.Parse()
	ctx := context.Background()
	s3srv, err := s3test.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer s3srv.Stop()
	const bucket = "bench"
	if err := s3srv.NewBucket(ctx, bucket); err != nil {
		log.Fatal(err)
	}
	mc, err := s3srv.Client()
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp(*tmp, "s3bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "model.ckpt")
	if err := writeFile(file, *size); err != nil {
		log.Fatal(err)
	}

	for _, kv := range s3srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	srv, err := benchserver.Start(*bin, dir, "--artifacts", "s3://"+bucket+"/trainyard")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	run := createRun(srv.URL)
	url := srv.URL + "/api/v1/runs/" + run + "/artifacts/model.ckpt"

	load0 := loadavg()
	var dUp, dDown, tUp, tDown []float64
	var rest, peakUp, peakDown []float64
	mb := float64(*size) / 1e6
	for r := range *rounds {
		d, err := timed(func() error {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = mc.PutObject(ctx, bucket, "direct/model.ckpt", f, *size, minio.PutObjectOptions{})
			return err
		})
		check("direct upload", err)
		dUp = append(dUp, mb/d)
		rest = append(rest, benchserver.MemMB(srv.PID(), "VmRSS:"))
		resetPeak(srv.PID())
		d, err = timed(func() error {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			req, _ := http.NewRequest("PUT", url, f)
			req.ContentLength = *size
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("%s %s", resp.Status, b)
			}
			return nil
		})
		check("upload through trainyard", err)
		tUp = append(tUp, mb/d)
		peakUp = append(peakUp, benchserver.MemMB(srv.PID(), "VmHWM:"))

		for range *downs {
			dDown = append(dDown, mb/must("direct download", func() error { return directGet(ctx, mc, bucket) }))
			resetPeak(srv.PID())
			tDown = append(tDown, mb/must("download through trainyard", func() error { return get(url) }))
			peakDown = append(peakDown, benchserver.MemMB(srv.PID(), "VmHWM:"))
		}
		log.Printf("round %d: upload direct %.0f, trainyard %.0f MB/s; download direct %.0f, trainyard %.0f MB/s (last); RSS at rest %.0f, peak %.0f up, %.0f down MB",
			r+1, dUp[r], tUp[r], dDown[len(dDown)-1], tDown[len(tDown)-1], rest[r], peakUp[r], peakDown[len(peakDown)-1])
	}
	fmt.Printf("\n%d MiB file, %d rounds (%d downloads), medians; SeaweedFS on loopback; %s; load average %s\n\n", *size>>20, *rounds, len(tDown), time.Now().Format("2006-01-02 15:04"), loadavg())
	fmt.Println("| direction | direct (minio-go) | through trainyard | ratio | trainyard RSS at rest → peak |")
	fmt.Println("|---|---:|---:|---:|---:|")
	fmt.Printf("| upload | %.0f MB/s | %.0f MB/s | %.0f %% | %.0f → %.0f MB (+%.0f) |\n", median(dUp), median(tUp), 100*median(tUp)/median(dUp), median(rest), median(peakUp), median(peakUp)-median(rest))
	fmt.Printf("| download | %.0f MB/s | %.0f MB/s | %.0f %% | %.0f → %.0f MB (+%.0f) |\n", median(dDown), median(tDown), 100*median(tDown)/median(dDown), median(rest), median(peakDown), median(peakDown)-median(rest))
	ratios := make([]float64, len(tDown))
	fmt.Printf("\nDownloads (MB/s, direct / trainyard, each pair one after the other):")
	for i := range tDown {
		fmt.Printf(" %.0f/%.0f", dDown[i], tDown[i])
		ratios[i] = tDown[i] / dDown[i]
	}
	fmt.Printf("\nMedian of the pairs' ratios: %.0f %%; load average at the start %s\n", 100*median(ratios), load0)
}

// loadavg is the machine's load average over 1, 5 and 15 minutes.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// must times f, and stops the benchmark if it fails.
func must(what string, f func() error) float64 {
	d, err := timed(f)
	check(what, err)
	return d
}

func directGet(ctx context.Context, mc *minio.Client, bucket string) error {
	o, err := mc.GetObject(ctx, bucket, "direct/model.ckpt", minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer o.Close()
	n, err := io.Copy(io.Discard, o)
	return sizeErr(n, err)
}

func get(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s", resp.Status, b)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return sizeErr(n, err)
}

func timed(f func() error) (float64, error) {
	t0 := time.Now()
	err := f()
	return time.Since(t0).Seconds(), err
}

func check(what string, err error) {
	if err != nil {
		log.Fatalf("%s: %v", what, err)
	}
}

func sizeErr(n int64, err error) error {
	if err == nil && n != *size {
		err = fmt.Errorf("read %d bytes of %d", n, *size)
	}
	return err
}

// resetPeak resets the process's VmHWM to its current RSS.
func resetPeak(pid int) {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		log.Fatalf("reset the server's peak RSS: %v", err)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func writeFile(name string, size int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		return err
	}
	return f.Sync()
}

func createRun(url string) string {
	resp, err := http.Post(url+"/api/v1/runs", "application/json", strings.NewReader(`{"project":"s3bench"}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.ID == "" {
		log.Fatalf("create a run: %v", err)
	}
	return r.ID
}
