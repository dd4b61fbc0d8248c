package http

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"
)

// openapiYAML is the API's description, written by hand and checked
// against the routes and real responses by openapi_test.go.
//
//go:embed openapi.yaml
var openapiYAML []byte

var openapiJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
})

// OpenAPI returns the OpenAPI 3 document as JSON.
func OpenAPI() ([]byte, error) { return openapiJSON() }

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	b, err := openapiJSON()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	return nil
}
