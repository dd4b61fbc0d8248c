package gpu

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// QueryFields is the --query-gpu field list that Probe and Query ask for, in
// the order ParseQueryCSV expects headerless columns. The command and the
// parser both read it, so they cannot drift apart.
const QueryFields = "index,uuid,name,memory.total,memory.used,utilization.gpu,utilization.memory,temperature.gpu,power.draw,pci.bus_id,driver_version"

// csvFormat is the --format the command asks for.
const csvFormat = "csv,noheader,nounits"

// queryArgs returns the arguments of the CSV query.
func queryArgs() []string {
	return []string{"--query-gpu=" + QueryFields, "--format=" + csvFormat}
}

// ParseQueryCSV parses the output of
//
//	nvidia-smi --query-gpu=<QueryFields> --format=csv,noheader,nounits
//
// and also the header-ful, unit-ful form of --format=csv for any field list:
// when the first line is a header such as "index, memory.total [MiB]", the
// columns are mapped by name and values may carry units ("143771 MiB",
// "0 %", "81.19 W"). See ParseCSV for the rules.
func ParseQueryCSV(data []byte) ([]GPU, error) {
	return ParseCSV(data, QueryFields)
}

// ParseCSV parses nvidia-smi --query-gpu CSV output. fields is the
// comma-separated field list the data was queried with; it names the columns
// of headerless data and is ignored when the first line is a header.
//
// Rules:
//   - Blank lines, trailing spaces, Windows line endings and a UTF-8 byte
//     order mark are ignored. Empty output is zero GPUs and no error.
//   - Columns this package does not read (memory.free, fan.speed, ...) are
//     skipped. A field absent from the columns is unknown: -1 for numbers,
//     "" for text; a missing index is the row's position.
//   - "[N/A]", "[Not Supported]", "N/A" and any other bracketed value mean
//     unknown: -1 for numbers, "" for text. The index must be known.
//   - Memory is in MiB unless the value or the header names a unit (B, KiB,
//     MiB, GiB, TiB); GPU fields hold bytes.
//   - Numbers must not be negative and indexes must not repeat.
//
// Errors name the line and the field: `line 2: memory.total: "abc" is not a
// number`.
func ParseCSV(data []byte, fields string) ([]GPU, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	lines := strings.Split(string(data), "\n")

	var cols []column // nil until the first non-blank line is seen
	gpus := []GPU{}
	seen := map[int]int{} // index -> line
	for i, line := range lines {
		n := i + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" {
			continue
		}
		cells := splitCells(line)
		if cols == nil {
			if h, ok := parseHeader(cells); ok {
				cols = h
				continue
			}
			cols = columnsOf(strings.Split(fields, ","))
		}
		if len(cells) != len(cols) {
			return nil, fmt.Errorf("line %d: got %d fields, want %d (%s)", n, len(cells), len(cols), columnNames(cols))
		}
		g := unknownGPU(len(gpus))
		for j, c := range cols {
			if c.set == nil {
				continue
			}
			if err := c.set(&g, cells[j], c.unit); err != nil {
				return nil, fmt.Errorf("line %d: %s: %w", n, c.name, err)
			}
		}
		if prev, dup := seen[g.Index]; dup {
			return nil, fmt.Errorf("line %d: index: %d repeats line %d", n, g.Index, prev)
		}
		seen[g.Index] = n
		gpus = append(gpus, g)
	}
	return gpus, nil
}

// unknownGPU returns a GPU at position i whose every other field is unknown.
func unknownGPU(i int) GPU {
	return GPU{
		Index: i, MemoryTotal: -1, MemoryUsed: -1,
		Utilization: -1, MemoryUtilization: -1, Temperature: -1, PowerDraw: -1,
	}
}

func splitCells(line string) []string {
	cells := strings.Split(line, ",")
	for i, c := range cells {
		cells[i] = strings.TrimSpace(c)
	}
	return cells
}

// column is one CSV column: its field name, the unit its header names (if
// any) and how to store a value; set is nil for fields this package skips.
type column struct {
	name, unit string
	set        func(g *GPU, value, unit string) error
}

func columnsOf(names []string) []column {
	cols := make([]column, len(names))
	for i, n := range names {
		n = strings.TrimSpace(n)
		cols[i] = column{name: n, set: setters[n]}
	}
	return cols
}

func columnNames(cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return strings.Join(names, ",")
}

// parseHeader reports whether cells form a header line: every cell a field
// name with an optional " [unit]", at least one a field this package reads.
func parseHeader(cells []string) ([]column, bool) {
	cols := make([]column, len(cells))
	known := false
	for i, c := range cells {
		name, unit := c, ""
		if j := strings.Index(c, " ["); j >= 0 && strings.HasSuffix(c, "]") {
			name, unit = c[:j], c[j+2:len(c)-1]
		}
		if !isFieldName(name) {
			return nil, false
		}
		cols[i] = column{name: name, unit: unit, set: setters[name]}
		known = known || cols[i].set != nil
	}
	return cols, known
}

func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// setters maps the fields this package reads to how each is stored.
var setters = map[string]func(g *GPU, value, unit string) error{
	"index": func(g *GPU, v, _ string) error {
		if isUnknown(v) {
			return fmt.Errorf("%q: the index must be known", v)
		}
		n, err := parseInt(v, "")
		g.Index = n
		return err
	},
	"uuid":           func(g *GPU, v, _ string) error { g.UUID = text(v); return nil },
	"name":           func(g *GPU, v, _ string) error { g.Name = text(v); return nil },
	"pci.bus_id":     func(g *GPU, v, _ string) error { g.BusID = text(v); return nil },
	"driver_version": func(g *GPU, v, _ string) error { g.Driver = text(v); return nil },
	"memory.total": func(g *GPU, v, u string) (err error) {
		g.MemoryTotal, err = parseMemory(v, u)
		return err
	},
	"memory.used": func(g *GPU, v, u string) (err error) {
		g.MemoryUsed, err = parseMemory(v, u)
		return err
	},
	"utilization.gpu": func(g *GPU, v, _ string) (err error) {
		g.Utilization, err = parseInt(v, "%")
		return err
	},
	"utilization.memory": func(g *GPU, v, _ string) (err error) {
		g.MemoryUtilization, err = parseInt(v, "%")
		return err
	},
	"temperature.gpu": func(g *GPU, v, _ string) (err error) {
		g.Temperature, err = parseInt(v, "C")
		return err
	},
	"power.draw": func(g *GPU, v, _ string) (err error) {
		g.PowerDraw, err = parseFloat(v, "W")
		return err
	},
}

// isUnknown reports whether v is one of nvidia-smi's spellings of "no value":
// "[N/A]", "[Not Supported]", "[Unknown Error]", "N/A" or empty.
func isUnknown(v string) bool {
	return v == "" || v == "N/A" || strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]")
}

func text(v string) string {
	if isUnknown(v) {
		return ""
	}
	return v
}

// splitUnit splits "143771 MiB" into "143771" and "MiB".
func splitUnit(v string) (num, unit string) {
	num, unit, _ = strings.Cut(v, " ")
	return num, strings.TrimSpace(unit)
}

// number parses the numeric part of v, which may carry the unit want.
func number(v, want string) (float64, error) {
	num, unit := splitUnit(v)
	if unit != "" && unit != want {
		return 0, fmt.Errorf("%q: unit %q, want %q", v, unit, want)
	}
	return nonNegative(num, v)
}

// nonNegative parses num, the numeric part of v, as a finite number >= 0.
func nonNegative(num, v string) (float64, error) {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	if f < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	return f, nil
}

// parseInt reads a whole number such as "32", "0 %" or "32 C"; unknown is -1.
func parseInt(v, unit string) (int, error) {
	if isUnknown(v) {
		return -1, nil
	}
	f, err := number(v, unit)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return int(f), nil
}

// parseFloat reads a number such as "81.19" or "81.19 W"; unknown is -1.
func parseFloat(v, unit string) (float64, error) {
	if isUnknown(v) {
		return -1, nil
	}
	return number(v, unit)
}

var memoryUnits = map[string]float64{
	"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// parseMemory reads a size such as "143771", "143771 MiB" or "140.4 GiB" and
// returns bytes; a value without a unit is in headerUnit, or MiB when that is
// empty too. Unknown is -1.
func parseMemory(v, headerUnit string) (int64, error) {
	if isUnknown(v) {
		return -1, nil
	}
	num, unit := splitUnit(v)
	if unit == "" {
		unit = headerUnit
	}
	if unit == "" {
		unit = "MiB"
	}
	mult, ok := memoryUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KiB, MiB, GiB or TiB)", v, unit)
	}
	f, err := nonNegative(num, v)
	if err != nil {
		return 0, err
	}
	b := math.Round(f * mult)
	if b >= math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return int64(b), nil
}
