package http_test

import (
	"strings"
	"time"
)

// exerciseSweeps drives every sweep operation, errors included, for
// TestAnswersMatchTheDocument.
func exerciseSweeps(a *apiRig) {
	const js, yml = "application/json", "application/yaml"
	// An ask/tell sweep (no command), in YAML.
	ask := a.do("POST", "/api/v1/sweeps?file=s.yaml", yml, []byte("name: asked\nmetric: {name: acc, mode: max}\nparameters:\n  lr: {min: 0.001, max: 0.1, log: true}\nmax_trials: 3\n"), 201)
	aid := between(string(ask), `"id":"`, `"`)
	bad := a.do("POST", "/api/v1/sweeps?file=s.yaml", yml, []byte("metric: acc\nparameters:\n  lr: {min: 2, max: 1}\nmax_trials: 3\n"), 400)
	if !strings.Contains(string(bad), "s.yaml:3: parameters.lr") {
		a.t.Errorf("a bad spec's error does not name file, line and field: %s", bad)
	}
	a.do("POST", "/api/v1/sweeps", "application/xml", []byte("<x/>"), 400)
	// A managed sweep in JSON: one quick trial through the real queue.
	man := a.do("POST", "/api/v1/sweeps", js, jsonBody(`{"command":["sh","-c","exit 0"],"metric":"loss","parameters":{"x":{"values":[1,2]}},"searcher":"grid","parallel":1}`), 201)
	mid := between(string(man), `"id":"`, `"`)
	a.do("POST", "/api/v1/sweeps", js, jsonBody(`{"command":["true"],"metric":"loss","parameters":{"x":{"values":[1]}},"max_trials":1,"resources":{"gpus":9}}`), 422)
	a.do("GET", "/api/v1/sweeps", "", nil, 200)
	a.do("GET", "/api/v1/sweeps?active=true&limit=10&id_prefix="+aid[:4], "", nil, 200)
	a.do("GET", "/api/v1/sweeps/"+aid, "", nil, 200)
	a.do("GET", "/api/v1/sweeps/nope", "", nil, 404)

	sg := a.do("POST", "/api/v1/sweeps/"+aid+"/suggest", js, jsonBody(`{"count":2}`), 200)
	if !strings.Contains(string(sg), `"number":2`) {
		a.t.Errorf("suggest of 2 trials: %s", sg)
	}
	a.do("POST", "/api/v1/sweeps/"+aid+"/suggest", "", nil, 200)
	a.do("POST", "/api/v1/sweeps/"+aid+"/suggest", js, jsonBody(`{"count":0,"bogus":1}`), 400)
	a.do("POST", "/api/v1/sweeps/"+mid+"/suggest", js, jsonBody(`{}`), 409)
	a.do("POST", "/api/v1/sweeps/"+aid+"/report", js, jsonBody(`{"trial":1,"step":1,"value":0.5}`), 200)
	a.do("POST", "/api/v1/sweeps/"+aid+"/report", js, jsonBody(`{"trial":2,"results":[{"step":1,"value":"NaN"},{"step":2,"value":0.7}],"state":"completed"}`), 200)
	a.do("POST", "/api/v1/sweeps/"+aid+"/report", js, jsonBody(`{"trial":9,"step":1,"value":1}`), 404)
	a.do("POST", "/api/v1/sweeps/"+aid+"/report", js, jsonBody(`{"trial":1,"state":"done"}`), 400)

	a.do("POST", "/api/v1/sweeps/"+aid+"/pause", "", nil, 200)
	a.do("POST", "/api/v1/sweeps/"+aid+"/suggest", "", nil, 409)
	a.do("POST", "/api/v1/sweeps/"+aid+"/resume", "", nil, 200)
	a.do("POST", "/api/v1/sweeps/"+aid+"/stop", "", nil, 200)
	a.do("POST", "/api/v1/sweeps/"+aid+"/resume", "", nil, 409)
	// The managed sweep runs its two trials to the end.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(string(a.do("GET", "/api/v1/sweeps/"+mid, "", nil, 200)), `"state":"COMPLETED","reason":"completed"`) {
		if time.Now().After(deadline) {
			a.t.Fatalf("the managed sweep did not complete: %s", a.do("GET", "/api/v1/sweeps/"+mid, "", nil, 200))
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.do("POST", "/api/v1/sweeps/"+mid+"/stop", "", nil, 409)
}
