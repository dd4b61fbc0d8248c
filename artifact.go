package trainyard

import (
	"context"
	"path"
	"strings"
)

// CleanArtifactPath checks a user-supplied artifact path and returns it in
// clean, slash-separated form; "" and "." mean the root. A path that is
// absolute, holds a ".." segment, NUL or a backslash, or is longer than
// 1024 characters is EINVALID. Every ArtifactStore takes paths through it.
func CleanArtifactPath(p string) (string, error) {
	if strings.ContainsRune(p, 0) || strings.Contains(p, "\\") {
		return "", FieldError("path", "%q may not contain NUL or backslash", p)
	}
	if strings.HasPrefix(p, "/") {
		return "", FieldError("path", "%q must be relative to the run's artifact root", p)
	}
	c := path.Clean("/" + p)[1:]
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", FieldError("path", "%q leaves the run's artifact root", p)
		}
	}
	if len(c) > 1024 {
		return "", FieldError("path", "is %d characters, more than 1024", len(c))
	}
	return c, nil
}

// ArtifactTransfers is what an artifact store that lets clients move a
// file's bytes to and from the storage themselves (an object store's
// presigned URLs) offers besides ArtifactStore: MLflow clients upload
// large files in parts and download them in ranges this way, without the
// server in the path. Paths are as in ArtifactStore; the URLs are
// credentials for one object and expire.
type ArtifactTransfers interface {
	// CreateUpload starts a multipart upload to path of parts parts
	// (1-10000) and returns a URL to PUT each part to. Nothing is visible
	// at path until CompleteUpload. Returns EINVALID for a bad path or
	// count and ECONFLICT where a directory is, or a file is above.
	CreateUpload(ctx context.Context, runID, path string, parts int) (*DirectUpload, error)
	// CompleteUpload makes the uploaded parts the file at path, replacing
	// any file there, after checking them against the parts' checksums
	// the storage computed. Returns ENOTFOUND for an unknown upload and
	// EINVALID for a part that was not uploaded as listed.
	CompleteUpload(ctx context.Context, runID, path, uploadID string, parts []UploadedPart) (ArtifactInfo, error)
	// AbortUpload discards an upload's parts. Returns ENOTFOUND for an
	// unknown upload.
	AbortUpload(ctx context.Context, runID, path, uploadID string) error
	// DownloadURL returns a URL to GET the file at path from (Range
	// requests allowed) and its size. Returns ENOTFOUND if there is none.
	DownloadURL(ctx context.Context, runID, path string) (*DirectDownload, error)
}

// DirectUpload is a multipart upload a client sends itself.
type DirectUpload struct {
	ID    string
	Parts []PartURL
}

// PartURL is where a client PUTs one part, with the headers to send.
type PartURL struct {
	Number  int
	URL     string
	Headers map[string]string
}

// UploadedPart is a part a client uploaded: its number and the ETag the
// storage answered.
type UploadedPart struct {
	Number int
	ETag   string
}

// DirectDownload is where a client GETs a file, with the headers to send.
type DirectDownload struct {
	URL     string
	Headers map[string]string
	Size    int64
}
