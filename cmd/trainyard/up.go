package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/access"
	"github.com/trainyard/trainyard/cli"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/dispatch"
	"github.com/trainyard/trainyard/gpu"
	"github.com/trainyard/trainyard/http"
	"github.com/trainyard/trainyard/httplimit"
	"github.com/trainyard/trainyard/mlflowapi"
	"github.com/trainyard/trainyard/sweep"
	"github.com/trainyard/trainyard/tracking"
)

const shimCommand = "__shim"

// Config is every setting of `trainyard up`: one struct, filled from
// defaults, then TRAINYARD_* environment variables, then flags.
type Config struct {
	Addr           string        // TRAINYARD_ADDR: where the API listens; loopback unless told otherwise
	Data           string        // TRAINYARD_HOME: database, artifacts, logs
	DB             string        // TRAINYARD_DB: "" (SQLite under Data) or postgres://user@host/db (several servers may share it)
	AdvertiseURL   string        // TRAINYARD_ADVERTISE_URL: the URL jobs reach the API at; default the listen address
	PeerURL        string        // TRAINYARD_PEER_URL: the URL the other servers on the database reach this one at; default from the listen address
	Token          string        // TRAINYARD_TOKEN: when set, every request needs it
	Sync           string        // TRAINYARD_SYNC: SQLite synchronous, FULL or NORMAL
	NvidiaSMI      string        // TRAINYARD_NVIDIA_SMI: program for GPU discovery; "none" turns it off
	CPUs           int           // TRAINYARD_CPUS: CPU cores jobs may use (default: all)
	Memory         string        // TRAINYARD_MEMORY: memory jobs may use (default: all)
	BackfillWindow time.Duration // TRAINYARD_BACKFILL_WINDOW
	KillGrace      time.Duration // TRAINYARD_KILL_GRACE
	LogLevel       string        // TRAINYARD_LOG_LEVEL: debug, info, warn, error
	AllowedHosts   []string      // TRAINYARD_ALLOWED_HOSTS: Host names answered besides loopback ones
	Executor       string        // TRAINYARD_EXECUTOR: where jobs run: local, slurm, kubernetes
	ConfigFile     string        // TRAINYARD_CONFIG: a YAML file of these settings by flag name
	ReadTimeout    time.Duration // TRAINYARD_READ_TIMEOUT: to send a request body (streams: between reads)
	WriteTimeout   time.Duration // TRAINYARD_WRITE_TIMEOUT: to take an answer (streams: between writes)
	IdleTimeout    time.Duration // TRAINYARD_IDLE_TIMEOUT: a kept-alive connection between requests
	MaxConns       int           // TRAINYARD_MAX_CONNECTIONS: connections held at once; 0 = from the open-file limit
	// Artifacts (TRAINYARD_ARTIFACTS) is where run artifacts are kept: a
	// directory (default DATA/artifacts) or s3://bucket/prefix, with the
	// endpoint, region and credentials from AWS_* (openArtifacts).
	Artifacts string
	// ArtifactsDirect (TRAINYARD_ARTIFACTS_DIRECT, default true) lets MLflow
	// clients move large files to and from an object store themselves,
	// with presigned URLs: the store's endpoint must be reachable from them.
	ArtifactsDirect bool
	// ArtifactsDestination (TRAINYARD_ARTIFACTS_DESTINATION) is the same
	// setting under MLflow's name (mlflow server --artifacts-destination).
	ArtifactsDestination string
	// DefaultArtifactRoot (TRAINYARD_DEFAULT_ARTIFACT_ROOT) is where new
	// MLflow experiments keep their runs' artifacts, as MLflow's
	// --default-artifact-root: default mlflow-artifacts:/ (this server's
	// store, through its proxy); a directory or URI there makes clients
	// write to it themselves.
	DefaultArtifactRoot string
}

func defaultConfig() Config {
	home, _ := os.UserHomeDir()
	return Config{
		Addr: "127.0.0.1:8080", Data: filepath.Join(home, ".trainyard"), Sync: "FULL", NvidiaSMI: "nvidia-smi",
		BackfillWindow: 5 * time.Minute, KillGrace: 10 * time.Second, LogLevel: "info", Executor: "local",
		ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second,
		ArtifactsDirect: true,
	}
}

func upCmd() *cobra.Command {
	cfg := defaultConfig()
	var detached bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the server: API, scheduler, executor and web UI",
		Long: `Start trainyard: the HTTP API and web UI, the scheduler, and the executor
that runs jobs, with SQLite, artifacts and logs under --data.

Executors (--executor):
` + executorHelp() + `
Every flag can also be set with the TRAINYARD_* variable named in its help,
or in a YAML file given with --config whose keys are the flag names
(executor: slurm, slurm-partition: gpu). A flag wins over its variable,
which wins over the file. Jobs keep running when the server stops; the
next start re-attaches to them.

Access: with no users and no --token everything is allowed, which is why
the server listens on loopback unless told otherwise. --token sets a
shared admin token. ` + "`trainyard user add NAME --admin`" + ` adds the first user
(and prints its token); from then on every request needs a user's token
(` + "`trainyard token create`" + `), the web UI asks users to log in, and users
get roles per project (viewer, member, admin). See ` + "`trainyard user --help`" + `.

With --detach the server runs in the background: its output goes to
DATA/server.log, its pid to DATA/server.pid, and ` + "`trainyard down`" + ` stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.ConfigFile != "" {
				if err := applyConfigFile(cmd.Flags(), cfg.ConfigFile); err != nil {
					return err
				}
			}
			if detached {
				return detach(cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Addr, "addr", env("TRAINYARD_ADDR", cfg.Addr), "address to listen on (TRAINYARD_ADDR); use 0.0.0.0:8080 to serve other machines, with --token")
	fl.StringVar(&cfg.Data, "data", env("TRAINYARD_HOME", cfg.Data), "data directory (TRAINYARD_HOME)")
	fl.StringVar(&cfg.DB, "db", env("TRAINYARD_DB", ""), "database: empty for SQLite in the data directory, or postgres://user@host:5432/trainyard for PostgreSQL, which several servers may share (TRAINYARD_DB)")
	fl.StringVar(&cfg.AdvertiseURL, "advertise-url", env("TRAINYARD_ADVERTISE_URL", ""), "the URL jobs reach the API at (a load balancer in front of several servers); default this server's address (TRAINYARD_ADVERTISE_URL)")
	fl.StringVar(&cfg.PeerURL, "peer-url", env("TRAINYARD_PEER_URL", ""), "with several servers on one PostgreSQL: the URL the other servers reach this one at, to forward sweep changes to it while it schedules (not a load balancer's); default http://127.0.0.1:PORT when listening on loopback or all addresses, else the address listened on (TRAINYARD_PEER_URL)")
	fl.StringVar(&cfg.Token, "token", env("TRAINYARD_TOKEN", ""), "a shared admin token: every API request needs it, or a user's token once users exist; the web UI loads without it and asks (TRAINYARD_TOKEN)")
	fl.StringVar(&cfg.Sync, "sync", env("TRAINYARD_SYNC", cfg.Sync), "SQLite durability: FULL fsyncs every commit (survives power loss); NORMAL survives kill -9 only (TRAINYARD_SYNC)")
	fl.StringVar(&cfg.NvidiaSMI, "nvidia-smi", env("TRAINYARD_NVIDIA_SMI", cfg.NvidiaSMI), "nvidia-smi program for GPU discovery; \"none\" for CPU-only (TRAINYARD_NVIDIA_SMI)")
	fl.IntVar(&cfg.CPUs, "cpus", envInt("TRAINYARD_CPUS", 0), "CPU cores jobs may use; 0 = all (TRAINYARD_CPUS)")
	fl.StringVar(&cfg.Memory, "memory", env("TRAINYARD_MEMORY", ""), "memory jobs may use, e.g. 64GiB; default all (TRAINYARD_MEMORY)")
	fl.DurationVar(&cfg.BackfillWindow, "backfill-window", envDuration("TRAINYARD_BACKFILL_WINDOW", cfg.BackfillWindow), "how long a blocked job lets smaller ones start ahead of it before it holds resources (TRAINYARD_BACKFILL_WINDOW)")
	fl.DurationVar(&cfg.KillGrace, "kill-grace", envDuration("TRAINYARD_KILL_GRACE", cfg.KillGrace), "time between SIGTERM and SIGKILL when a job is canceled (TRAINYARD_KILL_GRACE)")
	fl.StringSliceVar(&cfg.AllowedHosts, "allowed-hosts", splitList(env("TRAINYARD_ALLOWED_HOSTS", "")), "host names the server answers to besides localhost and its address, e.g. gpu-box.lan; \"*\" for any (TRAINYARD_ALLOWED_HOSTS)")
	fl.DurationVar(&cfg.ReadTimeout, "read-timeout", envDuration("TRAINYARD_READ_TIMEOUT", cfg.ReadTimeout), "longest time a client may take to send a request body; uploads may take this long between reads (TRAINYARD_READ_TIMEOUT)")
	fl.DurationVar(&cfg.WriteTimeout, "write-timeout", envDuration("TRAINYARD_WRITE_TIMEOUT", cfg.WriteTimeout), "longest time a client may take to take an answer; downloads and followed logs may take this long between writes (TRAINYARD_WRITE_TIMEOUT)")
	fl.DurationVar(&cfg.IdleTimeout, "idle-timeout", envDuration("TRAINYARD_IDLE_TIMEOUT", cfg.IdleTimeout), "how long a kept-alive connection may wait for its next request (TRAINYARD_IDLE_TIMEOUT)")
	fl.IntVar(&cfg.MaxConns, "max-connections", envInt("TRAINYARD_MAX_CONNECTIONS", 0), "connections held at once; at the cap the longest idle one makes room, else new ones get 503; 0 = min(4096, 3/4 of the open-file limit) (TRAINYARD_MAX_CONNECTIONS)")
	fl.StringVar(&cfg.Artifacts, "artifacts", env("TRAINYARD_ARTIFACTS", ""), "where artifacts are kept: a directory, or s3://bucket/prefix with the endpoint, region and credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; default DATA/artifacts (TRAINYARD_ARTIFACTS)")
	fl.BoolVar(&cfg.ArtifactsDirect, "artifacts-direct", envBool("TRAINYARD_ARTIFACTS_DIRECT", cfg.ArtifactsDirect), "with s3:// artifacts, let MLflow clients upload and download large files with presigned URLs, straight to the bucket (its endpoint must be reachable from them); false sends every byte through this server (TRAINYARD_ARTIFACTS_DIRECT)")
	fl.StringVar(&cfg.ArtifactsDestination, "artifacts-destination", env("TRAINYARD_ARTIFACTS_DESTINATION", ""), "--artifacts under MLflow's name, as mlflow server --artifacts-destination (TRAINYARD_ARTIFACTS_DESTINATION)")
	fl.StringVar(&cfg.DefaultArtifactRoot, "default-artifact-root", env("TRAINYARD_DEFAULT_ARTIFACT_ROOT", "mlflow-artifacts:/"), "where new MLflow experiments keep artifacts, as MLflow's --default-artifact-root: mlflow-artifacts:/ is this server's store (TRAINYARD_DEFAULT_ARTIFACT_ROOT)")
	fl.StringVar(&cfg.LogLevel, "log-level", env("TRAINYARD_LOG_LEVEL", cfg.LogLevel), "debug, info, warn or error (TRAINYARD_LOG_LEVEL)")
	fl.StringVar(&cfg.Executor, "executor", env("TRAINYARD_EXECUTOR", cfg.Executor), "where jobs run: "+executorNames()+" (TRAINYARD_EXECUTOR)")
	fl.StringVar(&cfg.ConfigFile, "config", env("TRAINYARD_CONFIG", ""), "read settings from this YAML file, keyed by flag name (TRAINYARD_CONFIG)")
	fl.BoolVar(&detached, "detach", false, "run in the background (log: DATA/server.log, pid: DATA/server.pid); `trainyard down` stops it")
	for _, name := range sortedKinds() {
		if k := executorKinds[name]; k.flags != nil {
			k.flags(fl)
		}
	}
	return cmd
}

func serve(ctx context.Context, cfg Config, stderr io.Writer) error {
	t0 := time.Now()
	// Metric ingestion allocates a request's columns and drops them: with
	// the default GOGC the collector runs every few batches and costs a
	// third of the throughput. Collect less often, but harder once the heap
	// nears 768 MiB: request bodies in memory are bounded by the API's
	// budget (http.DefaultBudget), and this keeps what their garbage adds
	// on top under 1 GiB (bench/bigreq). GOGC and GOMEMLIMIT in the
	// environment still win.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(768 << 20)
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
	unlock, err := lockDataDir(data, isPostgres(cfg.DB))
	if err != nil {
		return err
	}
	defer unlock()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another trainyard running? choose another with --addr)", cfg.Addr, err)
	}
	url := "http://" + ln.Addr().String()
	if cfg.AdvertiseURL != "" {
		url = strings.TrimSuffix(cfg.AdvertiseURL, "/")
	}

	peerURL, err := peerURL(cfg.PeerURL, ln.Addr())
	if err != nil {
		return err
	}
	store, shared, err := openStore(ctx, cfg, data, peerURL, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	artifactsWhere, err := artifactsSetting(cfg.Artifacts, cfg.ArtifactsDestination)
	if err != nil {
		return err
	}
	artifacts, transfers, artifactsAt, err := openArtifacts(ctx, artifactsWhere, data, cfg.ArtifactsDirect, logger)
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
	exec, err := buildExecutor(ctx, cfg.Executor, wiring{Data: data, Self: self, Machine: machine, Logger: logger})
	if err != nil {
		return err
	}
	if c, ok := exec.(io.Closer); ok { // an engine's watches and log streams
		defer c.Close()
	}

	// Access checks every request of both APIs: the services they are given
	// below are its guarded views; the dispatcher holds the store itself.
	acc := access.New(access.Config{Store: store, SharedToken: cfg.Token, Logger: logger})
	defer acc.Close()
	// Jobs start from the server's environment (none when they run in an
	// image elsewhere), less the server's own settings.
	baseEnv := []string{}
	if !executorKinds[cfg.Executor].elsewhere {
		var withheld []string
		baseEnv, withheld = jobBaseEnv(os.Environ(), serverVars(upCmd().Flags()))
		if len(withheld) > 0 {
			logger.Info("the server's own settings are not passed to jobs", "variables", strings.Join(withheld, ","))
		}
	}
	// Sweeps follow their trials' jobs: the dispatcher tells the sweep
	// service of every stored change (changes before it started are kept).
	// With several servers on one database only the one that schedules
	// runs the sweeps (d is set before the service starts).
	var d *dispatch.Dispatcher
	sweeps := sweep.New(sweep.Config{Store: store, CheckpointDir: filepath.Join(data, "checkpoints"), Logger: logger, Authorize: access.Sweeps,
		Audit: acc.RecordSweep, Leading: func() bool { return d.Leading() }})
	d = dispatch.New(dispatch.Config{
		Machine: machine, BackfillWindow: cfg.BackfillWindow, KillGrace: cfg.KillGrace, BaseEnv: baseEnv,
		ServerURL: url, CheckWorkdir: true, Logger: logger, Shared: shared, OnChange: sweeps.OnJob,
		Withhold: withholdCredentials(ctx, isS3(artifactsWhere), acc.Mode),
		ExtraEnv: func(j *trainyard.Job) []string {
			env, err := acc.JobEnv(ctx, j)
			if err != nil {
				logger.Error("the job's token could not be made; it runs without one", "job", j.ID, "err", err)
			}
			return append(env, mlflowEnv(store, url, j)...)
		},
	}, store, exec, logs)
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer d.Close()
	sweeps.SetJobs(d)
	if err := sweeps.Start(ctx); err != nil {
		return err
	}
	defer sweeps.Close()

	// One memory budget for the request bodies of every API this process
	// serves, MLflow's included.
	budget := httplimit.NewBudget(http.DefaultBudget, 30*time.Second)
	guarded, guardedArtifacts := acc.Store(), acc.Artifacts(artifacts)
	tracker := tracking.New(tracking.Config{Store: guarded, OnMetrics: sweeps.ObserveMetrics})
	ml := mlflowapi.New(mlflowapi.Config{Tracking: tracker, Store: guarded, Artifacts: guardedArtifacts, Transfers: acc.Transfers(transfers), Version: version, Logger: logger,
		DefaultArtifactRoot: cfg.DefaultArtifactRoot, Bodies: budget, Stream: httplimit.Stream})
	api := http.New(http.Config{
		Jobs: acc.Jobs(d), Store: guarded, Artifacts: guardedArtifacts, Logs: acc.Logs(logs), Access: acc,
		Version: version, Token: cfg.Token, Logger: logger,
		Machine: liveMachine(machine, cfg.NvidiaSMI), AllowedHosts: allowedHosts(ln.Addr(), cfg.AllowedHosts),
		Tracking: tracker, Mounts: []http.Mount{{Patterns: mlflowapi.Patterns(), Handler: ml, WriteError: ml.WriteError}}, Sweeps: sweeps,
		Budget: budget, Timeouts: httplimit.Timeouts{Read: cfg.ReadTimeout, Write: cfg.WriteTimeout},
		LeaderURL: leaderURL(shared), PeerURL: peerURL,
	})
	// Memory a burst grew goes back to the system once the server is idle.
	idle := &httplimit.Idle{}
	go idle.Run(ctx, 10*time.Second)
	conns := httplimit.NewConns(maxConns(cfg.MaxConns, logger))
	srv := &nethttp.Server{
		Handler:           idle.Handler(api),
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		IdleTimeout:       cfg.IdleTimeout,
		ConnState:         conns.ConnState,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(conns.Listener(ln)) }()

	gpus := "CPU-only"
	if n := len(machine.GPUs); n > 0 {
		gpus = fmt.Sprintf("%d × %s", n, machine.GPUs[0].Name)
	}
	ui := ""
	if !http.UIBuilt() {
		ui = " (UI not built: Go-only build)"
	}
	if mode, err := acc.Mode(ctx); err == nil {
		logger.Info("access", "mode", mode)
	}
	logger.Info("trainyard is up", "url", url, "data", data, "artifacts", artifactsAt, "gpus", gpus, "cpus", machine.CPUs, "ready_in", time.Since(t0).Round(time.Millisecond))
	where := fmt.Sprintf("this machine: %s, %d CPUs, %s memory", gpus, machine.CPUs, cli.HumanBytes(machine.Memory))
	if info, err := d.Executor(ctx); err == nil && info.Kind != "local" {
		where = fmt.Sprintf("%s: %d nodes", info.Kind, len(info.Nodes))
	}
	fmt.Fprintf(stderr, "\ntrainyard %s is up at %s%s\n  data: %s\n  database: %s\n  jobs run on %s\n  try: trainyard run -- python -c 'print(\"hello\")'\n\n",
		version, url, ui, data, describeDB(cfg, data), where)
	if info, err := d.Executor(ctx); err == nil {
		for _, w := range info.Warnings {
			fmt.Fprintf(stderr, "  warning: %s\n", w)
		}
	}

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

// maxConns is the connection cap: the one asked for, or by default
// min(4096, 3/4 of the open-file limit), so that the database, logs,
// artifacts and jobs keep the rest. (Go raises the soft open-file limit to
// the hard one when the program starts, and gives jobs the original.)
func maxConns(asked int, logger *slog.Logger) int {
	var lim syscall.Rlimit
	nofile := 1024
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur > 0 {
		nofile = int(min(lim.Cur, 1<<30))
	}
	auto := max(64, min(4096, nofile*3/4))
	if asked <= 0 {
		return auto
	}
	if asked > nofile-64 {
		logger.Warn("--max-connections is above the open-file limit; the server may run out of file descriptors", "max_connections", asked, "open_file_limit", nofile)
	}
	return asked
}

// artifactsSetting is where artifacts go: --artifacts, or the same under
// MLflow's name, --artifacts-destination; both naming different places is
// an error.
func artifactsSetting(artifacts, destination string) (string, error) {
	if destination == "" || destination == artifacts {
		return artifacts, nil
	}
	if artifacts != "" {
		return "", fmt.Errorf("--artifacts %q and --artifacts-destination %q name different places: give one", artifacts, destination)
	}
	return destination, nil
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

// peerURL is the URL the other servers on the database reach this one at:
// --peer-url, or one made from the address listened on (127.0.0.1 for
// loopback and all addresses).
func peerURL(flag string, addr net.Addr) (string, error) {
	if flag != "" {
		u, err := neturl.Parse(flag)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", trainyard.FieldError("peer-url", "%q is not an http(s) URL such as http://10.0.0.5:8080", flag)
		}
		return strings.TrimSuffix(flag, "/"), nil
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String(), nil
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() || tcp.IP.To4() != nil && tcp.IP.IsLoopback() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)), nil
}

// leaderURL finds the leader's URL on a shared store that records it
// (PostgreSQL); nil otherwise (SQLite: one server, which leads).
func leaderURL(shared trainyard.SharedStore) func(ctx context.Context) (string, error) {
	if l, ok := shared.(interface {
		LeaderURL(ctx context.Context) (string, error)
	}); ok {
		return l.LeaderURL
	}
	return nil
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

// lockDataDir makes sure one server owns a data directory, or, with a
// shared database (shared), that only servers on that database share it:
// their logs, artifacts and the local executor's state are then shared.
func lockDataDir(dir string, shared bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "trainyard.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if shared {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
			f.Close()
			return nil, fmt.Errorf("a trainyard on SQLite is using %s: servers on PostgreSQL may share a data directory only with each other (use another --data)", dir)
		}
		return func() { f.Close() }, nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another trainyard is already using %s (stop it first with `trainyard down --data %s`, or use --data)", dir, dir)
	}
	// The holder's pid, for `trainyard down`.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
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
