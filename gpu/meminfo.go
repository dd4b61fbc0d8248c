package gpu

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// readMemTotal returns MemTotal from a file in /proc/meminfo format, in bytes.
func readMemTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := parseMemTotal(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// parseMemTotal reads the "MemTotal:  24683656 kB" line of /proc/meminfo.
// The kernel's "kB" is KiB.
func parseMemTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		mult := int64(1)
		switch {
		case len(f) == 2 && f[1] == "kB":
			mult = 1024
		case len(f) == 1:
		default:
			return 0, fmt.Errorf("line %d: MemTotal: %q: want a number of kB", line, strings.TrimSpace(rest))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 || n > (1<<62)/mult {
			return 0, fmt.Errorf("line %d: MemTotal: %q is not a size", line, strings.TrimSpace(rest))
		}
		return n * mult, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no MemTotal line")
}
