package gpu

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// xmlArgs are the arguments of the fallback query.
var xmlArgs = []string{"-q", "-x"}

// xmlLog is the part of `nvidia-smi -q -x` this package reads. Power draw has
// moved between driver generations, so every known place is listed.
type xmlLog struct {
	XMLName xml.Name `xml:"nvidia_smi_log"`
	Driver  string   `xml:"driver_version"`
	GPUs    []xmlGPU `xml:"gpu"`
}

type xmlGPU struct {
	ID          string   `xml:"id,attr"` // the PCI bus id
	Name        string   `xml:"product_name"`
	UUID        string   `xml:"uuid"`
	BusID       string   `xml:"pci>pci_bus_id"`
	MemoryTotal string   `xml:"fb_memory_usage>total"`
	MemoryUsed  string   `xml:"fb_memory_usage>used"`
	Util        string   `xml:"utilization>gpu_util"`
	MemUtil     string   `xml:"utilization>memory_util"`
	Temperature string   `xml:"temperature>gpu_temp"`
	Power       xmlPower `xml:"gpu_power_readings"` // drivers 530 and later
	OldPower    xmlPower `xml:"power_readings"`     // older drivers
}

type xmlPower struct {
	Draw    string `xml:"power_draw"`         // up to driver 535
	Average string `xml:"average_power_draw"` // 550 and later; what power.draw reports
	Instant string `xml:"instant_power_draw"` // 550 and later
}

// draw returns the first known power reading and the name of its element.
func (p xmlGPU) draw() (value, field string) {
	for _, c := range []struct{ v, f string }{
		{p.Power.Average, "gpu_power_readings.average_power_draw"},
		{p.Power.Draw, "gpu_power_readings.power_draw"},
		{p.OldPower.Draw, "power_readings.power_draw"},
		{p.OldPower.Average, "power_readings.average_power_draw"},
		{p.Power.Instant, "gpu_power_readings.instant_power_draw"},
		{p.OldPower.Instant, "power_readings.instant_power_draw"},
	} {
		if !isUnknown(trim(c.v)) {
			return trim(c.v), c.f
		}
	}
	return "", "power_draw"
}

func trim(s string) string { return strings.TrimSpace(s) }

// ParseXML parses the output of `nvidia-smi -q -x`, the fallback source for
// drivers whose --query-gpu fails. It reads the product name, UUID, PCI bus
// id, framebuffer memory total and used, GPU and memory utilisation, GPU
// temperature, power draw (the average where the driver reports one, as
// power.draw does) and the driver version; "N/A" and bracketed values are
// unknown (-1 or "") as in ParseCSV.
//
// Index is the GPU's position in the document, which is nvidia-smi's own
// index (NVML order). minor_number is not used: it is the N of /dev/nvidiaN,
// which inside a container or with NVIDIA_VISIBLE_DEVICES need not match the
// index that CUDA_VISIBLE_DEVICES counts.
//
// Blank input is zero GPUs. Errors name the GPU and the element:
// `gpu 0: fb_memory_usage.total: "abc" is not a number`.
func ParseXML(data []byte) ([]GPU, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return []GPU{}, nil
	}
	var log xmlLog
	if err := xml.Unmarshal(data, &log); err != nil {
		return nil, fmt.Errorf("not nvidia-smi -q -x output: %w", err)
	}
	gpus := make([]GPU, 0, len(log.GPUs))
	for i, x := range log.GPUs {
		g := unknownGPU(i)
		g.Name = text(trim(x.Name))
		g.UUID = text(trim(x.UUID))
		g.BusID = text(trim(x.BusID))
		if g.BusID == "" {
			g.BusID = text(trim(x.ID))
		}
		g.Driver = text(trim(log.Driver))
		power, powerField := x.draw()
		for _, f := range []struct {
			name string
			fn   func() error
		}{
			{"fb_memory_usage.total", func() (err error) { g.MemoryTotal, err = parseMemory(trim(x.MemoryTotal), ""); return }},
			{"fb_memory_usage.used", func() (err error) { g.MemoryUsed, err = parseMemory(trim(x.MemoryUsed), ""); return }},
			{"utilization.gpu_util", func() (err error) { g.Utilization, err = parseInt(trim(x.Util), "%"); return }},
			{"utilization.memory_util", func() (err error) { g.MemoryUtilization, err = parseInt(trim(x.MemUtil), "%"); return }},
			{"temperature.gpu_temp", func() (err error) { g.Temperature, err = parseInt(trim(x.Temperature), "C"); return }},
			{powerField, func() (err error) { g.PowerDraw, err = parseFloat(power, "W"); return }},
		} {
			if err := f.fn(); err != nil {
				return nil, fmt.Errorf("gpu %d: %s: %w", i, f.name, err)
			}
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}
