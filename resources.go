package trainyard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Resources is what a job asks for and what a machine offers. GPUs are whole
// and exclusive; CPUs are cores; Memory is bytes. A zero Memory asks for no
// memory reservation.
type Resources struct {
	GPUs   int   `json:"gpus" yaml:"gpus"`
	CPUs   int   `json:"cpus" yaml:"cpus"`
	Memory Bytes `json:"memory" yaml:"memory"`
}

// UnmarshalJSON reads resources; a request that names no CPUs reserves
// DefaultCPUs, while "cpus": 0 reserves none.
func (r *Resources) UnmarshalJSON(data []byte) error {
	type plain Resources
	p := plain{CPUs: DefaultCPUs}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // resources are a closed set: a typo is an error
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*r = Resources(p)
	return nil
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

// Duration is a length of time. In JSON and YAML it is written as a Go
// duration string ("90m", "1h30m") and read from one or from a number of
// seconds.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as "1h30m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "90m", "1h30m" or a number of seconds.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		return d.UnmarshalText([]byte(s))
	}
	return d.UnmarshalText(data)
}

// ParseDuration reads "90m", "1h30m", "2d" (days, as Slurm's time limits
// count them) or a plain number of seconds.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		if f < 0 || f > float64(math.MaxInt64)/1e9 || math.IsNaN(f) {
			return 0, fmt.Errorf("duration %q: want a number of seconds from 0 to 292 years", s)
		}
		return Duration(f * 1e9), nil
	}
	if days, ok := strings.CutSuffix(t, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n < 100000 {
			return Duration(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	v, err := time.ParseDuration(t)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("duration %q: want a duration such as 90m, 1h30m, 2d or a number of seconds", s)
	}
	return Duration(v), nil
}

// GPUTypeLabel turns a GPU's name as nvidia-smi reports it into the short
// label jobs ask for: lower case, without the vendor and product-line words,
// spaces as dashes. "NVIDIA H200" → "h200", "NVIDIA A100-SXM4-80GB" →
// "a100-sxm4-80gb", "NVIDIA GeForce RTX 4090" → "rtx-4090".
func GPUTypeLabel(name string) string {
	var words []string
	for _, w := range strings.Fields(strings.ToLower(name)) {
		switch w {
		case "nvidia", "geforce", "tesla", "quadro":
			continue
		}
		words = append(words, w)
	}
	return strings.Join(words, "-")
}

// GPUTypeMatches reports whether a node whose GPUs carry label (see
// GPUTypeLabel) has the GPU type a job asks for: the same label, or the
// label's leading dash-separated part ("a100" matches "a100-sxm4-80gb").
// Case is ignored; an empty want matches any node.
func GPUTypeMatches(label, want string) bool {
	if want == "" {
		return true
	}
	label, want = strings.ToLower(label), strings.ToLower(GPUTypeLabel(want))
	return label == want || strings.HasPrefix(label, want+"-")
}

// PoolMatches reports whether a node whose LabelPool is label belongs to
// the pool a job asks for: the label is one pool or a comma-separated list
// (a Slurm node in several partitions). An empty want matches any node.
func PoolMatches(label, want string) bool {
	if want == "" {
		return true
	}
	for label != "" {
		var p string
		p, label, _ = strings.Cut(label, ",")
		if strings.TrimSpace(p) == want {
			return true
		}
	}
	return false
}
