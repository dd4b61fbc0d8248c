package gpu

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const mib = 1 << 20

// h200 is the GPU of the real captures in testdata/h200, as the CSV query
// reports it.
var h200 = GPU{
	Index: 0, UUID: "GPU-67fbe9c8-5eba-d7ab-c33d-266640000ac1", Name: "NVIDIA H200",
	MemoryTotal: 143771 * mib, MemoryUsed: 0,
	Utilization: 0, MemoryUtilization: 0, Temperature: 32, PowerDraw: 81.19,
	BusID: "00000000:00:06.0", Driver: "580.159.04",
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseCaptures parses each real CSV capture and the fixture derived from
// one, as the command would print it.
func TestParseCaptures(t *testing.T) {
	headerForm := unknownGPU(0)
	headerForm.UUID, headerForm.Name = h200.UUID, h200.Name
	headerForm.MemoryTotal, headerForm.MemoryUsed, headerForm.Utilization = h200.MemoryTotal, 0, 0

	tests := []struct {
		file, fields string
		want         []GPU
	}{
		{"testdata/query-gpu.csv", QueryFields, []GPU{h200}},
		// Taken with memory.free after memory.used; that column is skipped.
		{"testdata/h200/query-gpu-noheader.csv", "index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory,temperature.gpu,power.draw,pci.bus_id,driver_version", []GPU{h200}},
		// Header with units and six fields: the rest are unknown.
		{"testdata/h200/query-gpu-header.csv", QueryFields, []GPU{headerForm}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseCSV(readFile(t, tt.file), tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestParseQueryCSVNoheaderCaptureNeedsItsFields shows why the fixture is
// derived: the raw capture has one column more than QueryFields.
func TestParseQueryCSVNoheaderCaptureNeedsItsFields(t *testing.T) {
	_, err := ParseQueryCSV(readFile(t, "testdata/h200/query-gpu-noheader.csv"))
	if err == nil || !strings.Contains(err.Error(), "line 1: got 12 fields, want 11") {
		t.Errorf("err = %v, want a field count error", err)
	}
}

func TestParseQueryCSV(t *testing.T) {
	line := func(index, uuid, rest string) string {
		return index + ", " + uuid + ", NVIDIA H200, 143771, 0, 0, 0, 32, 81.19, " + rest + ", 580.159.04"
	}
	second := h200
	second.Index, second.UUID, second.BusID = 1, "GPU-2", "00000000:00:07.0"
	unknowns := h200
	unknowns.MemoryUsed, unknowns.Utilization, unknowns.MemoryUtilization, unknowns.PowerDraw = -1, -1, -1, -1
	unknowns.Name = ""
	busy := h200
	busy.MemoryUsed, busy.Utilization, busy.MemoryUtilization, busy.PowerDraw = 80000*mib, 100, 37, 698.5
	partial := unknownGPU(0)
	partial.UUID, partial.MemoryTotal = "GPU-a", 1024
	positional := unknownGPU(1)
	positional.Name = "B"

	tests := []struct {
		name string
		in   string
		want []GPU
	}{
		{"empty output is zero GPUs", "", []GPU{}},
		{"blank lines only", "\n \r\n\n", []GPU{}},
		{"one GPU", line("0", h200.UUID, h200.BusID) + "\n", []GPU{h200}},
		{"no final newline", line("0", h200.UUID, h200.BusID), []GPU{h200}},
		{"multiple GPUs", line("0", h200.UUID, h200.BusID) + "\n" + line("1", "GPU-2", "00000000:00:07.0") + "\n", []GPU{h200, second}},
		{"windows line endings, blank lines, trailing spaces, BOM",
			"\ufeff\r\n" + line("0", h200.UUID, h200.BusID) + "   \r\n\r\n" + line("1", "GPU-2", "00000000:00:07.0") + "\t\r\n",
			[]GPU{h200, second}},
		{"N/A and Not Supported",
			"0, " + h200.UUID + ", [N/A], 143771, [N/A], [Not Supported], [N/A], 32, [Unknown Error], 00000000:00:06.0, 580.159.04\n",
			[]GPU{unknowns}},
		{"busy GPU", "0, " + h200.UUID + ", NVIDIA H200, 143771, 80000, 100, 37, 32, 698.50, 00000000:00:06.0, 580.159.04", []GPU{busy}},
		{"header form with units",
			"index, uuid, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%], utilization.memory [%], temperature.gpu, power.draw [W], pci.bus_id, driver_version\n" +
				"0, " + h200.UUID + ", NVIDIA H200, 143771 MiB, 0 MiB, 0 %, 0 %, 32, 81.19 W, 00000000:00:06.0, 580.159.04\n",
			[]GPU{h200}},
		{"header form without units in values (csv,nounits)",
			"pci.bus_id, driver_version, power.draw [W], index, uuid, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%], utilization.memory [%], temperature.gpu\n" +
				"00000000:00:06.0, 580.159.04, 81.19, 0, " + h200.UUID + ", NVIDIA H200, 143771, 0, 0, 0, 32\n",
			[]GPU{h200}},
		{"header form, other columns and other units",
			"uuid, fan.speed [%], memory.total [KiB]\nGPU-a, 30 %, 1\n",
			[]GPU{partial}},
		{"header form without index counts rows", "name, memory.free [MiB]\nA, 1 MiB\nB, [N/A]\n", []GPU{withName(unknownGPU(0), "A"), positional}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQueryCSV([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func withName(g GPU, name string) GPU { g.Name = name; return g }

func TestParseQueryCSVErrors(t *testing.T) {
	good := "0, GPU-a, NVIDIA H200, 143771, 0, 0, 0, 32, 81.19, 00000000:00:06.0, 580.159.04"
	with := func(field, value string) string {
		cells := strings.Split(good, ", ")
		for i, f := range strings.Split(QueryFields, ",") {
			if f == field {
				cells[i] = value
			}
		}
		return strings.Join(cells, ", ")
	}
	tests := []struct {
		name, in, want string
	}{
		{"not a number", good + "\n" + with("memory.total", "abc"), `line 2: memory.total: "abc" is not a number`},
		{"line numbers count blank lines", "\n\n" + with("temperature.gpu", "hot"), `line 3: temperature.gpu: "hot" is not a number`},
		{"too few fields", "0, GPU-a, NVIDIA H200", "line 1: got 3 fields, want 11 (" + QueryFields + ")"},
		{"too many fields", good + ", extra", "line 1: got 12 fields, want 11"},
		{"unknown index", with("index", "[N/A]"), `line 1: index: "[N/A]": the index must be known`},
		{"negative", with("memory.used", "-5"), `line 1: memory.used: "-5" is negative`},
		{"fractional percent", with("utilization.gpu", "12.5"), `line 1: utilization.gpu: "12.5" is not a whole number`},
		{"wrong unit", with("power.draw", "81 kW"), `line 1: power.draw: "81 kW": unit "kW", want "W"`},
		{"unknown memory unit", with("memory.total", "1 PB"), `line 1: memory.total: "1 PB": unknown unit "PB"`},
		{"too large", with("memory.total", "1e300"), `line 1: memory.total: "1e300" is too large`},
		{"NaN", with("power.draw", "NaN"), `line 1: power.draw: "NaN" is not a number`},
		{"repeated index", good + "\n" + good, "line 2: index: 0 repeats line 1"},
		{"header then short row", "index, name\n0\n", "line 2: got 1 fields, want 2 (index,name)"},
		{"garbage", "hello world", `line 1: got 1 fields, want 11`},
		{"an error message", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "line 1: got 1 fields"},
		{"the plain nvidia-smi table", string(readFile(t, "testdata/h200/nvidia-smi.txt")), "line 1: got 1 fields"},
		{"xml", string(readFile(t, "testdata/h200/nvidia-smi-q.xml")), "line 1: got 1 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQueryCSV([]byte(tt.in))
			if err == nil {
				t.Fatalf("got %v, want an error", got)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to start %q", err, tt.want)
			}
		})
	}
}

func TestQueryArgs(t *testing.T) {
	got := strings.Join(queryArgs(), " ")
	want := "--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu,utilization.memory,temperature.gpu,power.draw,pci.bus_id,driver_version --format=csv,noheader,nounits"
	if got != want {
		t.Errorf("args = %q, want %q", got, want)
	}
	for _, f := range strings.Split(QueryFields, ",") {
		if setters[f] == nil {
			t.Errorf("QueryFields asks for %s, which the parser does not read", f)
		}
	}
}
