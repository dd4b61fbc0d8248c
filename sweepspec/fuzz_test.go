package sweepspec_test

import (
	"os"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/hpo"
	"github.com/trainyard/trainyard/sweepspec"
)

// FuzzParse: any input either parses into settings that make an engine
// and a command that expands, or fails with EINVALID; it never panics.
// The committed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"sweep.yaml", "wandb.yaml", "bad.yaml"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := sweepspec.Parse("f.yaml", data)
		if err != nil {
			if trainyard.ErrorCode(err) != trainyard.EINVALID {
				t.Fatalf("error code %q: %v", trainyard.ErrorCode(err), err)
			}
			return
		}
		e, err := hpo.New(s.Search)
		if err != nil {
			t.Fatalf("parsed settings do not make an engine: %v", err)
		}
		now := hpoStart
		for _, a := range e.Next(now, 3) {
			if a.Kind == hpo.Start {
				if _, err := s.TrialCommand(a.Config); err != nil {
					t.Fatalf("command of trial %d: %v", a.Trial, err)
				}
			}
		}
	})
}

// FuzzParseParam: the compact form parses into a valid parameter or fails
// with EINVALID quoting the argument.
func FuzzParseParam(f *testing.F) {
	for _, s := range []string{"lr=loguniform:1e-5:1e-1", "layers=int:2:8", "opt=choice:adam,sgd", "wd=quniform:0:0.1:0.01", "x=5", "a.b=const:relu", "n=logint:1:1024"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		p, err := sweepspec.ParseParam(arg)
		if err != nil {
			if trainyard.ErrorCode(err) != trainyard.EINVALID {
				t.Fatalf("error code %q: %v", trainyard.ErrorCode(err), err)
			}
			return
		}
		sp := hpo.Space{Params: []hpo.Param{p}}
		if err := sp.Validate(); err != nil {
			t.Fatalf("parsed %q into an invalid parameter: %v", arg, err)
		}
	})
}

var hpoStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
