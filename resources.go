package trainyard

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Resources is what a job asks for and what a machine offers. GPUs are whole
// and exclusive; CPUs are cores; Memory is bytes. A zero Memory asks for no
// memory reservation.
type Resources struct {
	GPUs   int   `json:"gpus" yaml:"gpus"`
	CPUs   int   `json:"cpus" yaml:"cpus"`
	Memory Bytes `json:"memory" yaml:"memory"`
}

// Fits reports whether r fits in free.
func (r Resources) Fits(free Resources) bool {
	return r.GPUs <= free.GPUs && r.CPUs <= free.CPUs && r.Memory <= free.Memory
}

// Add returns r+o.
func (r Resources) Add(o Resources) Resources {
	return Resources{GPUs: r.GPUs + o.GPUs, CPUs: r.CPUs + o.CPUs, Memory: r.Memory + o.Memory}
}

// Sub returns r-o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{GPUs: r.GPUs - o.GPUs, CPUs: r.CPUs - o.CPUs, Memory: r.Memory - o.Memory}
}

func (r Resources) String() string {
	s := fmt.Sprintf("%d GPU, %d CPU", r.GPUs, r.CPUs)
	if r.Memory > 0 {
		s += ", " + r.Memory.String()
	}
	return s
}

// Bytes is a size in bytes. In JSON and YAML it is written as an integer and
// read from an integer or a string with a unit: "512MiB", "4GiB", "2G",
// "1.5TiB". Units are IEC (KiB, MiB, GiB, TiB) or SI (KB, MB, GB, TB, and the
// short K, M, G, T, which are read as IEC like Slurm and Docker do).
type Bytes int64

// ParseBytes reads a size such as "4GiB" or "1024".
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("size %q: want a number with an optional unit such as 4GiB", s)
	}
	mult, ok := byteUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s, unit)
	}
	v := f * mult
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Bytes(v), nil
}

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

func (b Bytes) String() string {
	v := float64(b)
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", int64(b))
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + units[i]
}

// UnmarshalJSON reads an integer or a string with a unit.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		v, err := ParseBytes(s)
		if err != nil {
			return err
		}
		*b = v
		return nil
	}
	var n int64
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("size %s: want an integer number of bytes or a string such as \"4GiB\"", data)
	}
	if n < 0 {
		return fmt.Errorf("size %d is negative", n)
	}
	*b = Bytes(n)
	return nil
}

// UnmarshalText reads a size with a unit (used by YAML and flags).
func (b *Bytes) UnmarshalText(text []byte) error {
	v, err := ParseBytes(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}
