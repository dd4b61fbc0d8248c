package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// size renders a byte count for people: 512 B, 7.6 KiB, 727.7 MiB, 7.1 GiB
// (binary units, as --mem takes them, one decimal).
func size(n float64) string {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return num(n)
	}
	neg := n < 0
	v := math.Abs(n)
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if i == 0 {
		s = strconv.FormatFloat(v, 'f', -1, 64)
	}
	s = strings.TrimSuffix(s, ".0") + " " + units[i]
	if neg {
		return "-" + s
	}
	return s
}

// isSizeKey says whether a metric or summary key holds bytes, by the
// convention the SDK's system metrics follow (system/memory_used_bytes).
func isSizeKey(key string) bool {
	k := strings.ToLower(key)
	return strings.HasSuffix(k, "_bytes") || strings.HasSuffix(k, ".bytes") || strings.HasSuffix(k, "/bytes")
}

// metricValue renders a metric's value, as a size when its key says bytes.
func metricValue(key string, v float64) string {
	if isSizeKey(key) {
		return size(v)
	}
	return num(v)
}

// maxValue is the most characters of a value a table shows; --full shows
// it whole.
const maxValue = 80

// oneLine keeps a value on one table line: control characters (newlines,
// tabs) are shown escaped.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// cell renders a value for a table: on one line, and cut to n characters
// with the whole length said, unless full.
func cell(s string, n int, full bool) string {
	s = oneLine(s)
	if full {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return fmt.Sprintf("%s… (%d chars)", string(r[:n-12]), len(r))
}

// HumanBytes renders a byte count as the CLI prints sizes: 7.6 GiB.
func HumanBytes(n int64) string { return size(float64(n)) }
