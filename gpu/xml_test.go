package gpu

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseXMLCapture(t *testing.T) {
	got, err := ParseXML(readFile(t, "testdata/h200/nvidia-smi-q.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// The capture was taken seconds after the CSV one and reads the same,
	// including the average power draw (81.19 W, the instant reading is 81.25).
	if diff := cmp.Diff([]GPU{h200}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// xmlDoc builds an nvidia-smi -q -x document around gpu elements.
func xmlDoc(gpus ...string) string {
	return `<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v13.dtd">
<nvidia_smi_log>
	<driver_version>580.159.04</driver_version>
	<attached_gpus>` + string(rune('0'+len(gpus))) + `</attached_gpus>
` + strings.Join(gpus, "\n") + `
</nvidia_smi_log>
`
}

// xmlGPUElem is a gpu element in the layout of driver 580, with the given
// memory used and power readings.
func xmlGPUElem(busID, uuid, minor, used, power string) string {
	return `<gpu id="` + busID + `">
		<product_name>NVIDIA H200</product_name>
		<uuid>` + uuid + `</uuid>
		<minor_number>` + minor + `</minor_number>
		<pci><pci_bus_id>` + busID + `</pci_bus_id></pci>
		<fb_memory_usage><total>143771 MiB</total><reserved>616 MiB</reserved><used>` + used + `</used><free>143156 MiB</free></fb_memory_usage>
		<bar1_memory_usage><total>262144 MiB</total><used>1 MiB</used></bar1_memory_usage>
		<utilization><gpu_util>0 %</gpu_util><memory_util>0 %</memory_util></utilization>
		<temperature><gpu_temp>32 C</gpu_temp><memory_temp>35 C</memory_temp></temperature>
		` + power + `
	</gpu>`
}

func TestParseXML(t *testing.T) {
	newPower := `<gpu_power_readings><average_power_draw>81.19 W</average_power_draw><instant_power_draw>81.25 W</instant_power_draw></gpu_power_readings>
		<gpu_memory_power_readings><average_power_draw>43.49 W</average_power_draw></gpu_memory_power_readings>`
	second := h200
	second.Index, second.UUID, second.BusID = 1, "GPU-2", "00000000:00:07.0"
	oldDriver := h200
	oldDriver.PowerDraw = 70.5
	unknown := h200
	unknown.MemoryUsed, unknown.PowerDraw = -1, -1

	tests := []struct {
		name string
		in   string
		want []GPU
	}{
		{"empty output is zero GPUs", "", []GPU{}},
		{"no GPUs attached", xmlDoc(), []GPU{}},
		{"two GPUs; minor numbers are not indexes", xmlDoc(
			xmlGPUElem(h200.BusID, h200.UUID, "3", "0 MiB", newPower),
			xmlGPUElem("00000000:00:07.0", "GPU-2", "1", "0 MiB", newPower)), []GPU{h200, second}},
		{"driver 535: gpu_power_readings/power_draw", xmlDoc(
			xmlGPUElem(h200.BusID, h200.UUID, "0", "0 MiB", `<gpu_power_readings><power_draw>70.50 W</power_draw></gpu_power_readings>`)), []GPU{oldDriver}},
		{"older drivers: power_readings/power_draw", xmlDoc(
			xmlGPUElem(h200.BusID, h200.UUID, "0", "0 MiB", `<power_readings><power_state>P0</power_state><power_draw>70.50 W</power_draw></power_readings>`)), []GPU{oldDriver}},
		{"instant draw when the average is N/A", xmlDoc(
			xmlGPUElem(h200.BusID, h200.UUID, "0", "0 MiB", `<gpu_power_readings><average_power_draw>N/A</average_power_draw><instant_power_draw>70.50 W</instant_power_draw></gpu_power_readings>`)), []GPU{oldDriver}},
		{"N/A values", xmlDoc(
			xmlGPUElem(h200.BusID, h200.UUID, "0", "N/A", `<gpu_power_readings><average_power_draw>N/A</average_power_draw></gpu_power_readings>`)), []GPU{unknown}},
		{"bus id from the id attribute", strings.Replace(xmlDoc(xmlGPUElem(h200.BusID, h200.UUID, "0", "0 MiB", newPower)),
			"<pci><pci_bus_id>"+h200.BusID+"</pci_bus_id></pci>", "", 1), []GPU{h200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseXML([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseXMLErrors(t *testing.T) {
	power := `<gpu_power_readings><average_power_draw>81.19 W</average_power_draw></gpu_power_readings>`
	tests := []struct {
		name, in, want string
	}{
		{"not a number", xmlDoc(
			xmlGPUElem("a", "GPU-1", "0", "0 MiB", power),
			xmlGPUElem("b", "GPU-2", "1", "abc", power)), `gpu 1: fb_memory_usage.used: "abc" is not a number`},
		{"bad power", xmlDoc(xmlGPUElem("a", "GPU-1", "0", "0 MiB", `<gpu_power_readings><average_power_draw>lots</average_power_draw></gpu_power_readings>`)),
			`gpu 0: gpu_power_readings.average_power_draw: "lots" is not a number`},
		{"wrong unit", strings.Replace(xmlDoc(xmlGPUElem("a", "GPU-1", "0", "0 MiB", power)), "32 C", "90 F", 1),
			`gpu 0: temperature.gpu_temp: "90 F": unit "F", want "C"`},
		{"other root", "<html></html>", "not nvidia-smi -q -x output"},
		{"truncated", xmlDoc(xmlGPUElem("a", "GPU-1", "0", "0 MiB", power))[:200], "not nvidia-smi -q -x output"},
		{"csv", string(readFile(t, "testdata/query-gpu.csv")), "not nvidia-smi -q -x output"},
		{"error message", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", "not nvidia-smi -q -x output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseXML([]byte(tt.in))
			if err == nil {
				t.Fatalf("got %v, want an error", got)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to start %q", err, tt.want)
			}
		})
	}
}
