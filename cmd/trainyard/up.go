package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/dispatch"
	"github.com/trainyard/trainyard/executor/local"
	"github.com/trainyard/trainyard/gpu"
	"github.com/trainyard/trainyard/http"
	"github.com/trainyard/trainyard/sqlite"
)

const shimCommand = "__shim"

// Config is every setting of `trainyard up`: one struct, filled from
// defaults, then TRAINYARD_* environment variables, then flags.
type Config struct {
	Addr           string        // TRAINYARD_ADDR: where the API listens; loopback unless told otherwise
	Data           string        // TRAINYARD_HOME: database, artifacts, logs
	Token          string        // TRAINYARD_TOKEN: when set, every request needs it
	Sync           string        // TRAINYARD_SYNC: SQLite synchronous, FULL or NORMAL
	NvidiaSMI      string        // TRAINYARD_NVIDIA_SMI: program for GPU discovery; "none" turns it off
	CPUs           int           // TRAINYARD_CPUS: CPU cores jobs may use (default: all)
	Memory         string        // TRAINYARD_MEMORY: memory jobs may use (default: all)
	BackfillWindow time.Duration // TRAINYARD_BACKFILL_WINDOW
	KillGrace      time.Duration // TRAINYARD_KILL_GRACE
	LogLevel       string        // TRAINYARD_LOG_LEVEL: debug, info, warn, error
	AllowedHosts   []string      // TRAINYARD_ALLOWED_HOSTS: Host names answered besides loopback ones
}

func defaultConfig() Config {
	home, _ := os.UserHomeDir()
	return Config{
		Addr: "127.0.0.1:8080", Data: filepath.Join(home, ".trainyard"), Sync: "FULL", NvidiaSMI: "nvidia-smi",
		BackfillWindow: 5 * time.Minute, KillGrace: 10 * time.Second, LogLevel: "info",
	}
}

func upCmd() *cobra.Command {
	cfg := defaultConfig()
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the server: API, scheduler, local executor and web UI",
		Long: `Start trainyard on this machine: the HTTP API and web UI, the scheduler and
the local executor, with SQLite, artifacts and logs under --data.

Every flag can also be set with the TRAINYARD_* variable named in its help;
a flag wins over the variable. Jobs keep running when the server stops; the
next start re-attaches to them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Addr, "addr", env("TRAINYARD_ADDR", cfg.Addr), "address to listen on (TRAINYARD_ADDR); use 0.0.0.0:8080 to serve other machines, with --token")
	fl.StringVar(&cfg.Data, "data", env("TRAINYARD_HOME", cfg.Data), "data directory (TRAINYARD_HOME)")
	fl.StringVar(&cfg.Token, "token", env("TRAINYARD_TOKEN", ""), "require this bearer token on every request (TRAINYARD_TOKEN)")
	fl.StringVar(&cfg.Sync, "sync", env("TRAINYARD_SYNC", cfg.Sync), "SQLite durability: FULL fsyncs every commit (survives power loss); NORMAL survives kill -9 only (TRAINYARD_SYNC)")
	fl.StringVar(&cfg.NvidiaSMI, "nvidia-smi", env("TRAINYARD_NVIDIA_SMI", cfg.NvidiaSMI), "nvidia-smi program for GPU discovery; \"none\" for CPU-only (TRAINYARD_NVIDIA_SMI)")
	fl.IntVar(&cfg.CPUs, "cpus", envInt("TRAINYARD_CPUS", 0), "CPU cores jobs may use; 0 = all (TRAINYARD_CPUS)")
	fl.StringVar(&cfg.Memory, "memory", env("TRAINYARD_MEMORY", ""), "memory jobs may use, e.g. 64GiB; default all (TRAINYARD_MEMORY)")
	fl.DurationVar(&cfg.BackfillWindow, "backfill-window", envDuration("TRAINYARD_BACKFILL_WINDOW", cfg.BackfillWindow), "how long a blocked job lets smaller ones start ahead of it before it holds resources (TRAINYARD_BACKFILL_WINDOW)")
	fl.DurationVar(&cfg.KillGrace, "kill-grace", envDuration("TRAINYARD_KILL_GRACE", cfg.KillGrace), "time between SIGTERM and SIGKILL when a job is canceled (TRAINYARD_KILL_GRACE)")
	fl.StringSliceVar(&cfg.AllowedHosts, "allowed-hosts", splitList(env("TRAINYARD_ALLOWED_HOSTS", "")), "host names the server answers to besides localhost and its address, e.g. gpu-box.lan; \"*\" for any (TRAINYARD_ALLOWED_HOSTS)")
	fl.StringVar(&cfg.LogLevel, "log-level", env("TRAINYARD_LOG_LEVEL", cfg.LogLevel), "debug, info, warn or error (TRAINYARD_LOG_LEVEL)")
	return cmd
}

func serve(ctx context.Context, cfg Config, stderr io.Writer) error {
	t0 := time.Now()
	// Metric ingestion allocates a request's columns and drops them: with
	// the default GOGC the collector runs every few batches and costs a
	// third of the throughput. Collect less often, but harder once the heap
	// nears 1 GiB. GOGC and GOMEMLIMIT in the environment still win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
	if path := os.Getenv("TRAINYARD_CPUPROFILE"); path != "" { // for performance work
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	data, err := filepath.Abs(cfg.Data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	unlock, err := lockDataDir(data)
	if err != nil {
		return err
	}
	defer unlock()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another trainyard running? choose another with --addr)", cfg.Addr, err)
	}
	url := "http://" + ln.Addr().String()

	store, err := sqlite.Open(ctx, filepath.Join(data, "trainyard.db"), sqlite.Options{Sync: cfg.Sync})
	if err != nil {
		return err
	}
	defer store.Close()
	artifacts, err := disk.NewArtifacts(filepath.Join(data, "artifacts"))
	if err != nil {
		return err
	}
	logs, err := disk.NewLogs(filepath.Join(data, "logs"))
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary for the job shim: %w", err)
	}
	exec, err := local.New(local.Config{ShimCommand: []string{self, shimCommand}, StateDir: filepath.Join(data, "state")})
	if err != nil {
		return err
	}

	machine := gpu.Probe(ctx, cfg.NvidiaSMI)
	if cfg.CPUs > 0 {
		machine.CPUs = cfg.CPUs
	}
	if cfg.Memory != "" {
		m, err := trainyard.ParseBytes(cfg.Memory)
		if err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
		machine.Memory = int64(m)
	}
	for _, w := range machine.Warnings {
		logger.Warn("GPU discovery", "warning", w)
	}

	d := dispatch.New(dispatch.Config{
		Machine: machine, BackfillWindow: cfg.BackfillWindow, KillGrace: cfg.KillGrace,
		ServerURL: url, CheckWorkdir: true, Logger: logger,
		ExtraEnv: func(j *trainyard.Job) []string {
			var env []string
			if cfg.Token != "" {
				env = append(env, "TRAINYARD_TOKEN="+cfg.Token, "MLFLOW_TRACKING_TOKEN="+cfg.Token)
			}
			return append(env, mlflowEnv(store, url, j)...)
		},
	}, store, exec, logs)
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer d.Close()

	api := http.New(http.Config{
		Jobs: d, Store: store, Artifacts: artifacts, Logs: logs, Version: version, Token: cfg.Token, Logger: logger,
		Machine: liveMachine(machine, cfg.NvidiaSMI), AllowedHosts: allowedHosts(ln.Addr(), cfg.AllowedHosts),
	})
	srv := &nethttp.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	gpus := "CPU-only"
	if n := len(machine.GPUs); n > 0 {
		gpus = fmt.Sprintf("%d × %s", n, machine.GPUs[0].Name)
	}
	ui := ""
	if !http.UIBuilt() {
		ui = " (UI not built: Go-only build)"
	}
	logger.Info("trainyard is up", "url", url, "data", data, "gpus", gpus, "cpus", machine.CPUs, "ready_in", time.Since(t0).Round(time.Millisecond))
	fmt.Fprintf(stderr, "\ntrainyard %s is up at %s%s\n  data: %s\n  machine: %s, %d CPUs, %s memory\n  try: trainyard run -- python -c 'print(\"hello\")'\n\n",
		version, url, ui, data, gpus, machine.CPUs, trainyard.Bytes(machine.Memory))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down; running jobs keep running and are re-attached at the next start")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// liveMachine answers /api/v1/machine with fresh GPU readings, at most one
// nvidia-smi run a second however many clients ask.
func liveMachine(m trainyard.Machine, nvidiaSMI string) func(context.Context) trainyard.Machine {
	var mu sync.Mutex
	var at time.Time
	cur := m
	return func(ctx context.Context) trainyard.Machine {
		mu.Lock()
		defer mu.Unlock()
		if len(m.GPUs) == 0 || time.Since(at) < time.Second {
			return cur
		}
		if gs, err := gpu.Query(ctx, nvidiaSMI); err == nil && len(gs) == len(m.GPUs) {
			cur.GPUs = gs
		}
		at = time.Now()
		return cur
	}
}

// allowedHosts is the Host names the server answers to: on loopback only
// loopback names (and those given), so that a web page cannot reach the
// API through DNS rebinding; on another address any name.
func allowedHosts(addr net.Addr, extra []string) []string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		return nil // reachable from other machines: their names are not known
	}
	return append([]string{"localhost", "127.0.0.1", "::1", tcp.IP.String()}, extra...)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// lockDataDir makes sure one server owns a data directory.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "trainyard.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another trainyard is already using %s (stop it first, or use --data)", dir)
	}
	return func() { f.Close() }, nil
}

func env(k, def string) string {
	if v, ok := os.LookupEnv(k); ok && v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	var n int
	if v := env(k, ""); v != "" {
		if _, err := fmt.Sscan(v, &n); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "trainyard: ignoring %s=%q: not an integer\n", k, v)
	}
	return def
}

func envDuration(k string, def time.Duration) time.Duration {
	if v := env(k, ""); v != "" {
		if d, err := time.ParseDuration(strings.TrimSpace(v)); err == nil {
			return d
		}
		fmt.Fprintf(os.Stderr, "trainyard: ignoring %s=%q: not a duration such as 5m\n", k, v)
	}
	return def
}
