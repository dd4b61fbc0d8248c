package main

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/trainyard/trainyard/access"
)

func TestJobBaseEnvLeavesOutTheServersSettings(t *testing.T) {
	server := serverVars(upCmd().Flags())
	for _, v := range []string{"TRAINYARD_DB", "TRAINYARD_TOKEN", "TRAINYARD_HOME", "TRAINYARD_ARTIFACTS", "TRAINYARD_LOG_LEVEL"} {
		if !server[v] {
			t.Errorf("%s is not among the server's settings", v)
		}
	}
	for _, tc := range []struct {
		name              string
		environ           []string
		wantEnv, withheld []string
	}{
		{"empty", nil, []string{}, nil},
		{"kept", []string{"PATH=/bin", "HOME=/root", "TRAINYARD_RUN_ID=x", "CUDA_HOME=/cuda"},
			[]string{"PATH=/bin", "HOME=/root", "TRAINYARD_RUN_ID=x", "CUDA_HOME=/cuda"}, nil},
		{"left out", []string{"TRAINYARD_DB=postgres://u:secret@h/db", "PATH=/bin", "TRAINYARD_TOKEN=admin", "TRAINYARD_HOME=/d"},
			[]string{"PATH=/bin"}, []string{"TRAINYARD_DB", "TRAINYARD_HOME", "TRAINYARD_TOKEN"}},
		{"value with =", []string{"OPTS=a=b", "TRAINYARD_DB=x=y"}, []string{"OPTS=a=b"}, []string{"TRAINYARD_DB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, withheld := jobBaseEnv(tc.environ, server)
			if !slices.Equal(env, tc.wantEnv) || !slices.Equal(withheld, tc.withheld) {
				t.Errorf("jobBaseEnv = %q, withheld %q; want %q, %q", env, withheld, tc.wantEnv, tc.withheld)
			}
		})
	}
}

func TestWithholdCredentials(t *testing.T) {
	mode := func(m access.Mode, err error) func(context.Context) (access.Mode, error) {
		return func(context.Context) (access.Mode, error) { return m, err }
	}
	for _, tc := range []struct {
		name string
		s3   bool
		mode func(context.Context) (access.Mode, error)
		want []string
	}{
		{"disk artifacts, users", false, mode(access.ModeUsers, nil), nil},
		{"s3, open", true, mode(access.ModeOpen, nil), nil},
		{"s3, shared token", true, mode(access.ModeToken, nil), nil},
		{"s3, users", true, mode(access.ModeUsers, nil), awsCredentials},
		{"s3, mode unknown", true, mode("", errors.New("store down")), awsCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withholdCredentials(context.Background(), tc.s3, tc.mode)(nil); !slices.Equal(got, tc.want) {
				t.Errorf("withheld %q, want %q", got, tc.want)
			}
		})
	}
}
