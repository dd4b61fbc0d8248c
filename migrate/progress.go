package migrate

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a bar per table (rows) and one for the artifacts
// (bytes): redrawn in place on a terminal, else a line when each is done.
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

type bar struct {
	p          *progress
	name, unit string
	n, total   int64
	start      time.Time
	drawn      time.Time
}

func (p *progress) table(name string, rows int64) *bar {
	return &bar{p: p, name: name, unit: "rows", total: rows, start: time.Now()}
}

func (p *progress) bytes(name string, n int64) *bar {
	return &bar{p: p, name: name, unit: "bytes", total: n, start: time.Now()}
}

func (b *bar) add(n int64) {
	b.n += n
	if b.p.w == nil {
		return
	}
	now := time.Now()
	if b.p.tty && now.Sub(b.drawn) >= 100*time.Millisecond {
		b.drawn = now
		b.draw("\r")
	} else if !b.p.tty && now.Sub(b.drawn) >= 5*time.Second && now.Sub(b.start) >= 5*time.Second {
		b.drawn = now
		b.draw("")
		fmt.Fprintln(b.p.w)
	}
}

func (b *bar) done() {
	if b.p.w == nil {
		return
	}
	if b.p.tty {
		b.draw("\r")
	} else {
		b.draw("")
	}
	fmt.Fprintf(b.p.w, " (%s)\n", time.Since(b.start).Round(time.Millisecond))
}

func (b *bar) draw(prefix string) {
	const width = 30
	frac := 1.0
	if b.total > 0 {
		frac = min(1, float64(b.n)/float64(b.total))
	}
	fill := int(frac * width)
	fmt.Fprintf(b.p.w, "%s%-18s [%s%s] %3.0f%% %s/%s %s", prefix, b.name, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		frac*100, amount(b.n, b.unit), amount(b.total, b.unit), b.unit)
}

func amount(n int64, unit string) string {
	if unit != "bytes" {
		return fmt.Sprint(n)
	}
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGi", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMi", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKi", float64(n)/(1<<10))
	}
	return fmt.Sprint(n)
}

// WriteTable writes the check: what, source, target, and whether they match.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%-28s %14s %14s  %s\n", "CHECK", "SOURCE", "TARGET", "")
	for _, c := range r.Counts {
		mark := "ok"
		if !c.OK() {
			mark = "MISMATCH"
		}
		fmt.Fprintf(w, "%-28s %14d %14d  %s\n", c.What, c.Source, c.Target, mark)
	}
}
