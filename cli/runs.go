package cli

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard"
)

func runsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "List and show tracked runs"}
	var project string
	var limit int
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			runs, err := e.client.Runs(ctxOf(cmd), trainyard.RunFilter{Project: project, Limit: limit})
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
				fmt.Fprintln(e.errOut, "no runs yet; `trainyard run -- python train.py` with the SDK creates one")
				return nil
			}
			tw := table(e.out)
			fmt.Fprintln(tw, "ID\tPROJECT\tNAME\tSTATE\tCREATED\tMETRICS")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\t%s\n", r.ID, r.Project, truncate(r.Name, 28), r.State, ago(e.now().Sub(r.CreatedAt)), metricLine(r, 3))
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVar(&project, "project", "", "only this project")
	ls.Flags().IntVar(&limit, "limit", 50, "at most this many runs")
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var showJSON bool
	show := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run: config, summary, metrics, git version, artifacts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := e.client.Run(ctxOf(cmd), args[0])
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
			w := e.out
			fmt.Fprintf(w, "run      %s\nname     %s\nproject  %s\nstate    %s", r.ID, r.Name, r.Project, r.State)
			if r.Reason != "" {
				fmt.Fprintf(w, " (%s)", r.Reason)
			}
			if r.ExitCode != nil {
				fmt.Fprintf(w, ", exit code %d", *r.ExitCode)
			}
			fmt.Fprintln(w)
			if r.JobID != "" {
				fmt.Fprintf(w, "job      %s\n", r.JobID)
			}
			if len(r.Command) > 0 {
				fmt.Fprintf(w, "command  %s\n", strings.Join(r.Command, " "))
			}
			if r.Workdir != "" {
				fmt.Fprintf(w, "workdir  %s\n", r.Workdir)
			}
			if r.Git != nil {
				dirty := ""
				if r.Git.Dirty {
					dirty = " (dirty)"
				}
				fmt.Fprintf(w, "git      %s%s %s\n", r.Git.Commit, dirty, r.Git.Branch)
			}
			fmt.Fprintf(w, "created  %s\n", r.CreatedAt.Local().Format("2006-01-02 15:04:05"))
			if !r.EndedAt.IsZero() && !r.StartedAt.IsZero() {
				fmt.Fprintf(w, "ran for  %s\n", r.EndedAt.Sub(r.StartedAt).Round(1e7))
			}
			section := func(title string, m map[string]string) {
				if len(m) == 0 {
					return
				}
				fmt.Fprintf(w, "\n%s\n", title)
				tw := table(w)
				for _, k := range trainyard.SortedKeys(m) {
					fmt.Fprintf(tw, "  %s\t%s\n", k, m[k])
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
					fmt.Fprintf(w, "  %s (%s)\n", a.Path, trainyard.Bytes(a.Size))
				}
			}
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	cmd.AddCommand(ls, show)
	return cmd
}

func metricsCmd(e *env) *cobra.Command {
	var asJSON bool
	var maxPoints int
	cmd := &cobra.Command{
		Use:   "metrics RUN [KEY]",
		Short: "Show a run's metrics: a summary of each, or one metric's points",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				r, err := e.client.Run(ctxOf(cmd), args[0])
				if err != nil {
					return err
				}
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
			s, err := e.client.Metric(ctxOf(cmd), args[0], args[1], q)
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
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Steps[i], num(float64(s.Values[i])), num(float64(s.Min[i])), num(float64(s.Max[i])))
				}
			} else {
				fmt.Fprintln(tw, "STEP\tVALUE\tTIME")
				for i := range s.Steps {
					fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Steps[i], num(float64(s.Values[i])), msTime(s.Timestamps[i]))
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
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%d\n", k, m.LastStep, num(float64(m.Last)), num(float64(m.Min)), num(float64(m.Max)), m.Count)
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
		parts = append(parts, fmt.Sprintf("%s=%s", k, num(float64(r.Metrics[k].Last))))
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
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func stringify(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func msTime(ms int64) string {
	return time.UnixMilli(ms).Local().Format("15:04:05.000")
}
