package main

import (
	"context"
	"time"

	"github.com/trainyard/trainyard"
)

// mlflowEnv points the mlflow client inside a job at this server and at
// the job's run, so that mlflow.start_run() attaches to the run trainyard
// made for the job (in the job's project's experiment) instead of creating
// another. The job's exit still decides how the run ends: see
// http/mlflow_runs.go.
func mlflowEnv(store trainyard.ExperimentStore, url string, j *trainyard.Job) []string {
	env := []string{"MLFLOW_TRACKING_URI=" + url, "MLFLOW_RUN_ID=" + j.ID}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e, err := store.ExperimentByName(ctx, j.Project); err == nil {
		env = append(env, "MLFLOW_EXPERIMENT_ID="+e.ID)
	}
	return env
}
