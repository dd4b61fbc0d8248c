package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/tracking"
)

// mlflowEnv points the mlflow client inside a job at this server:
// MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_ID (the job's project's
// experiment), and MLFLOW_RUN_CONTEXT, whose tags MLflow's fluent API puts
// on every run the job's code starts. The first such run (mlflow.start_run(),
// autologging) is the job's own run, moved into the experiment the code set
// with mlflow.set_experiment, if it did: see tracking.Service.CreateRun. The
// job's exit still decides how its run ends (tracking.Service.ReportRun).
// A MLFLOW_RUN_CONTEXT of the job's own is kept, with trainyard's tag added.
func mlflowEnv(store trainyard.ExperimentStore, url string, j *trainyard.Job) []string {
	env := []string{"MLFLOW_TRACKING_URI=" + url}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e, err := store.ExperimentByName(ctx, j.Project); err == nil {
		env = append(env, "MLFLOW_EXPERIMENT_ID="+e.ID)
	}
	runContext := map[string]any{}
	if v, ok := j.Env["MLFLOW_RUN_CONTEXT"]; ok {
		json.Unmarshal([]byte(v), &runContext)
	}
	runContext[tracking.JobTag] = j.ID
	b, _ := json.Marshal(runContext)
	return append(env, "MLFLOW_RUN_CONTEXT="+string(b))
}
