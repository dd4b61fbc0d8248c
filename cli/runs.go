package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
	"github.com/trainyard/trainyard/runquery"
)

func runsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "List and show tracked runs"}
	var project, filter, state string
	var sorts []string
	var limit int
	var asJSON, full bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List runs, newest first, or filtered and sorted",
		Long: `List runs, newest first.

--filter takes the server's run search grammar (MLflow's): clauses joined by
AND over metrics.KEY (the latest value), params.KEY or config.KEY, tags.KEY
and attributes (id, name, state, project, job_id, created, ended,
exit_code), with =, !=, <, <=, >, >=, LIKE, ILIKE, IN and NOT IN.

--sort takes a key and an optional direction (repeatable): "metrics.acc
DESC", "-metrics.acc" (the same), "params.lr", "created".

Long values are cut to fit the table; --json prints every run whole.`,
		Example: `  trainyard runs ls --project mnist --state SUCCEEDED
  trainyard runs ls --filter "metrics.acc > 0.9 AND params.lr = '0.001'" --sort -metrics.acc
  trainyard runs ls --filter "tags.team LIKE 'vis%'" --sort created --limit 10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := client.RunQuery{RunFilter: trainyard.RunFilter{Project: project, Limit: limit}, Filter: filter}
			if state != "" {
				st := trainyard.State(strings.ToUpper(state))
				if !st.Valid() {
					return usagef("--state %q: want QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELED", state)
				}
				q.State = st
			}
			for _, s := range sorts {
				o, err := sortTerm(s)
				if err != nil {
					return err
				}
				q.OrderBy = append(q.OrderBy, o)
			}
			runs, err := e.client.SearchRuns(ctxOf(cmd), q)
			if err != nil {
				return err
			}
			if asJSON {
				if runs == nil {
					runs = []*trainyard.Run{}
				}
				return printJSON(e.out, runs)
			}
			if len(runs) == 0 {
				if filter != "" || state != "" || project != "" {
					fmt.Fprintln(e.errOut, "no runs match")
				} else {
					fmt.Fprintln(e.errOut, "no runs yet; `trainyard run -- python train.py` with the SDK creates one")
				}
				return nil
			}
			tw := table(e.out)
			fmt.Fprintln(tw, "ID\tPROJECT\tNAME\tSTATE\tCREATED\tMETRICS")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\t%s\n", r.ID, cell(r.Project, 24, full), cell(r.Name, 28, full), r.State, ago(e.now().Sub(r.CreatedAt)), metricLine(r, 3))
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVar(&project, "project", "", "only this project")
	ls.Flags().StringVar(&filter, "filter", "", "only runs that match this search expression (see above)")
	ls.Flags().StringVar(&state, "state", "", "only runs in this state: QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELED")
	ls.Flags().StringArrayVar(&sorts, "sort", nil, "order by this key, ASC or DESC (or -KEY); repeatable")
	ls.Flags().IntVar(&limit, "limit", 50, "at most this many runs")
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	ls.Flags().BoolVar(&full, "full", false, "do not cut long names")

	var showJSON, showFull bool
	show := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run: config, summary, metrics, git version, artifacts",
		Long: `Show a run: config, tags, summary, metrics, git version, artifacts. RUN is an
ID or a unique prefix of one. Values longer than 80 characters are cut (the
line says how long they are); --full prints them whole, --json prints the
run as the API answers it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := e.resolveRun(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			arts, err := e.client.Artifacts(ctxOf(cmd), r.ID, "", true)
			if err != nil {
				return err
			}
			if showJSON {
				return printJSON(e.out, map[string]any{"run": r, "artifacts": arts})
			}
			v := func(s string) string { return cell(s, maxValue, showFull) }
			w := e.out
			fmt.Fprintf(w, "run      %s\nname     %s\nproject  %s\nstate    %s", r.ID, v(r.Name), v(r.Project), r.State)
			if r.Reason != "" {
				fmt.Fprintf(w, " (%s)", v(r.Reason))
			}
			if r.ExitCode != nil {
				fmt.Fprintf(w, ", exit code %d", *r.ExitCode)
			}
			fmt.Fprintln(w)
			if r.JobID != "" {
				fmt.Fprintf(w, "job      %s\n", r.JobID)
			}
			if len(r.Command) > 0 {
				fmt.Fprintf(w, "command  %s\n", v(strings.Join(r.Command, " ")))
			}
			if r.Workdir != "" {
				fmt.Fprintf(w, "workdir  %s\n", v(r.Workdir))
			}
			if r.Git != nil {
				dirty := ""
				if r.Git.Dirty {
					dirty = " (dirty)"
				}
				fmt.Fprintf(w, "git      %s%s %s\n", r.Git.Commit, dirty, v(r.Git.Branch))
			}
			fmt.Fprintf(w, "created  %s\n", r.CreatedAt.Local().Format("2006-01-02 15:04:05"))
			if !r.EndedAt.IsZero() && !r.StartedAt.IsZero() {
				fmt.Fprintf(w, "ran for  %s\n", r.EndedAt.Sub(r.StartedAt).Round(1e7))
			}
			cut := false
			section := func(title string, m map[string]string) {
				if len(m) == 0 {
					return
				}
				fmt.Fprintf(w, "\n%s\n", title)
				tw := table(w)
				for _, k := range trainyard.SortedKeys(m) {
					val := v(m[k])
					cut = cut || val != oneLine(m[k])
					fmt.Fprintf(tw, "  %s\t%s\n", v(k), val)
				}
				tw.Flush()
			}
			section("config", stringify(r.Config))
			section("tags", r.Tags)
			section("summary", stringify(r.Summary))
			if len(r.Metrics) > 0 {
				fmt.Fprintln(w, "\nmetrics")
				printMetricTable(w, r)
			}
			if len(arts) > 0 {
				fmt.Fprintln(w, "\nartifacts")
				for _, a := range arts {
					fmt.Fprintf(w, "  %s (%s)\n", v(a.Path), size(float64(a.Size)))
				}
			}
			if cut {
				fmt.Fprintf(e.errOut, "\nlong values are cut: `trainyard runs show %s --full` prints them whole\n", r.ID)
			}
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	show.Flags().BoolVar(&showFull, "full", false, "print long values whole")
	cmd.AddCommand(ls, show)
	return cmd
}

// sortTerm turns --sort's "KEY", "KEY DESC" or "-KEY" into the API's
// order_by term.
func sortTerm(s string) (string, error) {
	s = strings.TrimSpace(s)
	if k, ok := strings.CutPrefix(s, "-"); ok {
		s = strings.TrimSpace(k) + " DESC"
	}
	if s == "" || s == " DESC" {
		return "", usagef("--sort: give a key such as metrics.loss, params.lr or created")
	}
	if _, err := runquery.ParseOrderBy([]string{s}); err != nil {
		return "", usagef("--sort: %v", err)
	}
	return s, nil
}

func metricsCmd(e *env) *cobra.Command {
	var asJSON bool
	var maxPoints int
	cmd := &cobra.Command{
		Use:   "metrics RUN [KEY]",
		Short: "Show a run's metrics: a summary of each, or one metric's points",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := e.resolveRun(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			if len(args) == 1 {
				if asJSON {
					return printJSON(e.out, r.Metrics)
				}
				if len(r.Metrics) == 0 {
					fmt.Fprintf(e.errOut, "run %s has no metrics yet\n", r.ID)
					return nil
				}
				return printMetricTable(e.out, r)
			}
			q := url.Values{}
			if maxPoints > 0 {
				q.Set("max_points", strconv.Itoa(maxPoints))
			}
			s, err := e.client.Metric(ctxOf(cmd), r.ID, args[1], q)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.out, s)
			}
			tw := table(e.out)
			if s.Downsampled {
				fmt.Fprintf(e.errOut, "%d points downsampled to %d buckets (each: last point, min, max)\n", s.Total, len(s.Steps))
				fmt.Fprintln(tw, "STEP\tVALUE\tMIN\tMAX")
				for i := range s.Steps {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Steps[i], metricValue(s.Key, float64(s.Values[i])), metricValue(s.Key, float64(s.Min[i])), metricValue(s.Key, float64(s.Max[i])))
				}
			} else {
				fmt.Fprintln(tw, "STEP\tVALUE\tTIME")
				for i := range s.Steps {
					fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Steps[i], metricValue(s.Key, float64(s.Values[i])), msTime(s.Timestamps[i]))
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&maxPoints, "max-points", 0, "downsample to at most this many points (min and max kept)")
	return cmd
}

func printMetricTable(w interface{ Write([]byte) (int, error) }, r *trainyard.Run) error {
	tw := table(w)
	fmt.Fprintln(tw, "  KEY\tSTEP\tLAST\tMIN\tMAX\tPOINTS")
	keys := trainyard.SortedKeys(r.Metrics)
	for _, k := range keys {
		m := r.Metrics[k]
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%d\n", cell(k, maxValue, false), m.LastStep, metricValue(k, float64(m.Last)), metricValue(k, float64(m.Min)), metricValue(k, float64(m.Max)), m.Count)
	}
	return tw.Flush()
}

// metricLine shows a few metrics' latest values, system metrics last.
func metricLine(r *trainyard.Run, n int) string {
	keys := trainyard.SortedKeys(r.Metrics)
	sort.SliceStable(keys, func(a, b int) bool {
		return !strings.HasPrefix(keys[a], "system/") && strings.HasPrefix(keys[b], "system/")
	})
	var parts []string
	for _, k := range keys {
		if len(parts) == n {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%s=%s", cell(k, 40, false), metricValue(k, float64(r.Metrics[k].Last))))
	}
	return strings.Join(parts, " ")
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64) // 1024, 763253000: not 7.63253e+08
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// stringify renders config or summary values: numbers in full (sizes when
// the key says bytes), text as is, lists and maps as JSON.
func stringify(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case float64:
			if isSizeKey(k) {
				out[k] = size(x)
			} else if x == math.Trunc(x) && math.Abs(x) < 1e15 {
				out[k] = strconv.FormatFloat(x, 'f', 0, 64)
			} else {
				out[k] = strconv.FormatFloat(x, 'g', -1, 64)
			}
		case string:
			out[k] = x
		case nil:
			out[k] = "null"
		case bool:
			out[k] = strconv.FormatBool(x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				out[k] = fmt.Sprint(x)
			} else {
				out[k] = string(b)
			}
		}
	}
	return out
}

func msTime(ms int64) string {
	return time.UnixMilli(ms).Local().Format("15:04:05.000")
}
