package gpu

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// seed adds every capture and fixture in testdata, and some edge cases.
func seed(f *testing.F, extra ...string) {
	files, _ := filepath.Glob("testdata/h200/*")
	files = append(files, "testdata/query-gpu.csv")
	for _, name := range files {
		f.Add(readFile(f, name))
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// FuzzParseQueryCSV checks that the parser never panics, that what it
// accepts is sane, and that what it accepts survives being written out in the
// header form and read back.
func FuzzParseQueryCSV(f *testing.F) {
	seed(f,
		"",
		"\r\n\r\n",
		"0, GPU-a, [N/A], [N/A], [Not Supported], [N/A], [N/A], [N/A], [N/A], [N/A], [N/A]\n",
		"index, memory.total [GiB], power.draw [W]\n0, 1.5 GiB, 3 W\n1, [N/A], 4\n",
		"name [x], index\nA, 7\r\n",
		"0, a, b, 1e3, 0x10, 1, 1, 1, 1e-3, c, d\n",
		"0,,,,,,,,,,\n1,,,,,,,,,,\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		gpus, err := ParseQueryCSV(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q does not name the line", err)
			}
			return
		}
		checkSane(t, gpus)
		again, err := ParseQueryCSV([]byte(formatHeaderCSV(gpus)))
		if err != nil {
			t.Fatalf("written out and read back: %v\n%s", err, formatHeaderCSV(gpus))
		}
		if diff := cmp.Diff(gpus, again); diff != "" {
			t.Errorf("written out and read back (-first +again)\n%s", diff)
		}
	})
}

// FuzzParseXML checks that the XML parser never panics and that what it
// accepts is sane.
func FuzzParseXML(f *testing.F) {
	seed(f,
		"<nvidia_smi_log></nvidia_smi_log>",
		"<nvidia_smi_log><gpu><fb_memory_usage><total>1 GiB</total></fb_memory_usage></gpu><gpu/></nvidia_smi_log>",
		"<nvidia_smi_log><gpu><power_readings><power_draw>[N/A]</power_draw></power_readings></gpu></nvidia_smi_log>",
		"<nvidia_smi_log><gpu><utilization><gpu_util>101 %</gpu_util></utilization></gpu>",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		gpus, err := ParseXML(data)
		if err != nil {
			return
		}
		checkSane(t, gpus)
	})
}

func checkSane(t *testing.T, gpus []GPU) {
	t.Helper()
	if gpus == nil {
		t.Error("nil slice; want empty")
	}
	seen := map[int]bool{}
	for _, g := range gpus {
		if g.Index < 0 || seen[g.Index] {
			t.Errorf("index %d is negative or repeats", g.Index)
		}
		seen[g.Index] = true
		if g.MemoryTotal < -1 || g.MemoryUsed < -1 || g.Utilization < -1 || g.MemoryUtilization < -1 || g.Temperature < -1 {
			t.Errorf("a number is below -1: %+v", g)
		}
		if g.PowerDraw < 0 && g.PowerDraw != -1 || math.IsNaN(g.PowerDraw) || math.IsInf(g.PowerDraw, 0) {
			t.Errorf("power draw %v", g.PowerDraw)
		}
		for _, s := range []string{g.UUID, g.Name, g.BusID, g.Driver} {
			if isUnknown(s) && s != "" || s != strings.TrimSpace(s) {
				t.Errorf("text %q is unknown or untrimmed", s)
			}
		}
	}
}

// formatHeaderCSV writes gpus as nvidia-smi --format=csv would, with every
// unit explicit.
func formatHeaderCSV(gpus []GPU) string {
	var b strings.Builder
	b.WriteString("index, uuid, name, memory.total [B], memory.used [B], utilization.gpu [%], utilization.memory [%], temperature.gpu, power.draw [W], pci.bus_id, driver_version\n")
	num := func(v int64, unit string) string {
		if v == -1 {
			return "[N/A]"
		}
		return strconv.FormatInt(v, 10) + unit
	}
	for _, g := range gpus {
		power := "[Not Supported]"
		if g.PowerDraw != -1 {
			power = strconv.FormatFloat(g.PowerDraw, 'g', -1, 64) + " W"
		}
		fmt.Fprintf(&b, "%d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s\r\n",
			g.Index, g.UUID, g.Name, num(g.MemoryTotal, " B"), num(g.MemoryUsed, ""),
			num(int64(g.Utilization), " %"), num(int64(g.MemoryUtilization), ""),
			num(int64(g.Temperature), " C"), power, g.BusID, g.Driver)
	}
	return b.String()
}
