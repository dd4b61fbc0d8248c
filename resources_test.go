package trainyard

import (
	"encoding/json"
	"testing"
)

func TestResourcesDefaultCPUs(t *testing.T) {
	tests := []struct {
		in   string
		want Resources
	}{
		{`{}`, Resources{CPUs: DefaultCPUs}},
		{`{"gpus": 2}`, Resources{GPUs: 2, CPUs: DefaultCPUs}},
		{`{"cpus": 0}`, Resources{}},
		{`{"cpus": 4, "memory": "1GiB"}`, Resources{CPUs: 4, Memory: 1 << 30}},
	}
	for _, tt := range tests {
		var got Resources
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil || got != tt.want {
			t.Errorf("%s → %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	spec := NewJobSpec()
	if err := json.Unmarshal([]byte(`{"command":["x"]}`), &spec); err != nil || spec.Resources.CPUs != DefaultCPUs {
		t.Errorf("a spec without resources reserves %d CPUs, %v; want %d", spec.Resources.CPUs, err, DefaultCPUs)
	}
}

func TestGPUTypes(t *testing.T) {
	for _, tt := range []struct{ name, label string }{
		{"NVIDIA H200", "h200"},
		{"NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb"},
		{"NVIDIA GeForce RTX 4090", "rtx-4090"},
		{"Tesla V100-PCIE-16GB", "v100-pcie-16gb"},
	} {
		if got := GPUTypeLabel(tt.name); got != tt.label {
			t.Errorf("GPUTypeLabel(%q) = %q, want %q", tt.name, got, tt.label)
		}
	}
	for _, tt := range []struct {
		label, want string
		match       bool
	}{
		{"h200", "h200", true},
		{"h200", "H200", true},
		{"a100-sxm4-80gb", "a100", true},
		{"a100-sxm4-80gb", "NVIDIA A100-SXM4-80GB", true},
		{"a100-sxm4-80gb", "a10", false},
		{"h100", "h200", false},
		{"anything", "", true},
		{"", "h100", false},
	} {
		if got := GPUTypeMatches(tt.label, tt.want); got != tt.match {
			t.Errorf("GPUTypeMatches(%q, %q) = %v", tt.label, tt.want, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Duration
		bad  bool
	}{
		{"90m", Duration(90 * 60e9), false},
		{"1h30m", Duration(90 * 60e9), false},
		{"2d", Duration(48 * 3600e9), false},
		{"30", Duration(30e9), false},
		{"1.5", Duration(1.5e9), false},
		{"-5m", 0, true},
		{"-3", 0, true},
		{"soon", 0, true},
	} {
		got, err := ParseDuration(tt.in)
		if tt.bad != (err != nil) || (!tt.bad && got != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v", tt.in, got, err)
		}
	}
	var spec JobSpec
	if err := json.Unmarshal([]byte(`{"command":["x"],"time_limit":"2h"}`), &spec); err != nil || spec.TimeLimit != Duration(2*3600e9) {
		t.Errorf("time_limit = %v, %v", spec.TimeLimit, err)
	}
}

func TestPoolMatches(t *testing.T) {
	for _, tt := range []struct {
		label, want string
		match       bool
	}{
		{"gpu", "gpu", true},
		{"gpu,debug", "debug", true},
		{"gpu,debug", "deb", false},
		{"", "gpu", false},
		{"gpu", "", true},
	} {
		if got := PoolMatches(tt.label, tt.want); got != tt.match {
			t.Errorf("PoolMatches(%q, %q) = %v", tt.label, tt.want, got)
		}
	}
}
