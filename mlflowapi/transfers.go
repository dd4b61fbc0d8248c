package mlflowapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
)

// Direct transfers, as MLflow's server offers them over an object store:
// when the artifact store can presign (Config.Transfers), server-info says
// multipart_uploads_enabled and multipart_downloads_enabled, and MLflow
// clients (3.x) then
//
//   - upload a file of at least MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE
//     (500 MiB) in parts of MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE (10 MiB):
//     POST mlflow-artifacts/mpu/create/<dir> {path, num_parts} answers an
//     upload ID and a presigned URL per part, the client PUTs the parts to
//     the store itself, then POSTs mpu/complete/<dir> {path, upload_id,
//     parts: [{part_number, etag}]}, or mpu/abort/<dir> when a part failed;
//   - download every file from a presigned URL that
//     GET mlflow-artifacts/presigned/<path> answers, in ranges of
//     MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE (100 MiB) in parallel.
//
// The file's name is the last element of the client's local path (the
// body's "path"), under the directory the URL names, as MLflow's S3
// repository does. Without Config.Transfers every route answers 501 with
// the message MLflow's client takes as "fall back to the proxy".

// unsupportedMultipart is MLflow's message for an artifact repository
// without multipart uploads; its client falls back to a plain PUT on it.
const unsupportedMultipart = "Multipart upload is not supported for the current artifact repository"

func (s *Server) transferRoutes() []route {
	const base = "/api/2.0/mlflow-artifacts"
	return []route{
		{"POST " + base + "/mpu/create/{path...}", s.mlCreateMultipartUpload},
		{"POST " + base + "/mpu/complete/{path...}", s.mlCompleteMultipartUpload},
		{"POST " + base + "/mpu/abort/{path...}", s.mlAbortMultipartUpload},
		{"GET " + base + "/presigned/{path...}", s.mlPresignedDownload},
	}
}

// transferTarget resolves a proxy path to the artifact store's key and
// the path below it, as the proxy's other routes do.
func (s *Server) transferTarget(ctx context.Context, p string) (key, rest string, err error) {
	if p, err = safePath(p); err != nil {
		return "", "", err
	}
	key, rest = s.proxyTarget(ctx, p)
	return key, rest, nil
}

// flexInt is a proto int: a JSON number or a string holding one.
type flexInt int

func (i *flexInt) UnmarshalJSON(b []byte) error {
	v, err := strconv.Atoi(strings.Trim(string(b), `"`))
	if err != nil {
		return trainyard.FieldError("num_parts", "%s is not an integer", b)
	}
	*i = flexInt(v)
	return nil
}

// readTransfer decodes a transfer request's JSON body into v.
func (s *Server) readTransfer(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return trainyard.Errorf(trainyard.EINVALID, "Bad Request. Content-Type header is missing.")
	}
	if strings.TrimSpace(strings.Split(ct, ";")[0]) != "application/json" {
		return trainyard.Errorf(trainyard.EINVALID, "Bad Request. Content-Type must be one of ['application/json'].")
	}
	body, release, err := s.readBody(w, r, s.cfg.MaxBodyBytes, costJSON)
	if err != nil {
		return err
	}
	defer release()
	if err := json.Unmarshal(body, v); err != nil {
		var te *trainyard.Error
		if errors.As(err, &te) {
			return te
		}
		return trainyard.Errorf(trainyard.EINVALID, "request is not valid JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// uploadTarget is the key and path of the file a multipart request names:
// the URL's directory and the base name of the client's local file.
func (s *Server) uploadTarget(r *http.Request, local string) (key, rest string, err error) {
	if s.cfg.Transfers == nil {
		return "", "", errNotImplemented(unsupportedMultipart)
	}
	if local == "" {
		return "", "", trainyard.FieldError("path", "is required: the local file being uploaded")
	}
	name := local[strings.LastIndexAny(local, `/\`)+1:]
	if name == "" || name == "." || name == ".." {
		return "", "", trainyard.FieldError("path", "%q names no file", local)
	}
	key, dir, err := s.transferTarget(r.Context(), r.PathValue("path"))
	if err != nil {
		return "", "", err
	}
	if dir != "" {
		name = dir + "/" + name
	}
	return key, name, nil
}

func (s *Server) mlCreateMultipartUpload(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Path     string  `json:"path"`
		NumParts flexInt `json:"num_parts"`
	}
	if err := s.readTransfer(w, r, &req); err != nil {
		return err
	}
	key, p, err := s.uploadTarget(r, req.Path)
	if err != nil {
		return err
	}
	up, err := s.cfg.Transfers.CreateUpload(r.Context(), key, p, int(req.NumParts))
	if err != nil {
		return err
	}
	type credential struct {
		URL        string            `json:"url"`
		PartNumber int               `json:"part_number"`
		Headers    map[string]string `json:"headers"`
	}
	creds := make([]credential, len(up.Parts))
	for i, pt := range up.Parts {
		creds[i] = credential{URL: pt.URL, PartNumber: pt.Number, Headers: pt.Headers}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"upload_id": up.ID, "credentials": creds})
}

func (s *Server) mlCompleteMultipartUpload(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Path     string `json:"path"`
		UploadID string `json:"upload_id"`
		Parts    []struct {
			PartNumber flexInt `json:"part_number"`
			ETag       string  `json:"etag"`
		} `json:"parts"`
	}
	if err := s.readTransfer(w, r, &req); err != nil {
		return err
	}
	key, p, err := s.uploadTarget(r, req.Path)
	if err != nil {
		return err
	}
	parts := make([]trainyard.UploadedPart, len(req.Parts))
	for i, pt := range req.Parts {
		parts[i] = trainyard.UploadedPart{Number: int(pt.PartNumber), ETag: pt.ETag}
	}
	if _, err := s.cfg.Transfers.CompleteUpload(r.Context(), key, p, req.UploadID, parts); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlAbortMultipartUpload(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Path     string `json:"path"`
		UploadID string `json:"upload_id"`
	}
	if err := s.readTransfer(w, r, &req); err != nil {
		return err
	}
	key, p, err := s.uploadTarget(r, req.Path)
	if err != nil {
		return err
	}
	if err := s.cfg.Transfers.AbortUpload(r.Context(), key, p, req.UploadID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlPresignedDownload(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Transfers == nil {
		return errNotImplemented("Multipart download is not supported for the current artifact repository")
	}
	key, p, err := s.transferTarget(r.Context(), r.PathValue("path"))
	if err != nil {
		return err
	}
	dl, err := s.cfg.Transfers.DownloadURL(r.Context(), key, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"url": dl.URL, "headers": dl.Headers, "file_size": dl.Size})
}
