package mlflowapi_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard/mlflowapi"
)

var update = flag.Bool("update", false, "rewrite tests/mlflow/routes.txt")

// routesFile is read by the differential test (tests/mlflow), which checks
// that every route here gets good and bad input against the real MLflow
// server. Routes that take no input need one step ("once").
var routesFile = filepath.Join("..", "tests", "mlflow", "routes.txt")

var once = map[string]bool{"GET /health": true, "GET /version": true, "GET /api/3.0/mlflow/server-info": true}

func TestRoutesFileIsCurrent(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Every MLflow route trainyard serves (mlflowapi.Routes); go test ./mlflowapi -update rewrites it.\n")
	for _, r := range mlflowapi.Routes() {
		b.WriteString(r)
		if once[r] {
			b.WriteString(" once")
		}
		b.WriteString("\n")
	}
	if *update {
		if err := os.WriteFile(routesFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(routesFile)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b.String(), string(got)); diff != "" {
		t.Fatalf("%s is stale (go test ./mlflowapi -run RoutesFile -update):\n%s", routesFile, diff)
	}
}
