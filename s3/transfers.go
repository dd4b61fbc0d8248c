package s3

import (
	"context"
	"encoding/hex"
	"fmt"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/trainyard/trainyard"
)

// Direct transfers: an MLflow client asks the server for presigned URLs
// and moves the bytes to and from the bucket itself. The URLs are signed
// with the server's credentials for one object, one method and (for a
// part) one upload, and expire after Config.PresignExpiry; the client
// must be able to reach the endpoint.
//
// What is checked: S3 refuses to complete an upload whose listed parts'
// ETags differ from the parts it holds; when every part's ETag is an MD5,
// the completed object's ETag must be their composite. The client sends
// its parts without Content-MD5 (MLflow's client does not), so the bytes
// in transit are checked only by TCP and, over https, TLS.

// CreateUpload starts a multipart upload and presigns a PUT for each part.
func (a *Artifacts) CreateUpload(ctx context.Context, runID, p string, parts int) (*trainyard.DirectUpload, error) {
	c, err := cleanFile(runID, p)
	if err != nil {
		return nil, err
	}
	if parts < 1 || parts > maxParts {
		return nil, trainyard.FieldError("num_parts", "%d: want 1 to %d", parts, maxParts)
	}
	if err := a.checkPlace(ctx, runID, c); err != nil {
		return nil, err
	}
	key := a.key(runID, c)
	id, err := a.core.NewMultipartUpload(ctx, a.cfg.Bucket, key, minio.PutObjectOptions{ContentType: mime.TypeByExtension(path.Ext(c))})
	if err != nil {
		return nil, a.mapErr("upload", p, err)
	}
	up := &trainyard.DirectUpload{ID: id, Parts: make([]trainyard.PartURL, parts)}
	for i := range parts {
		q := url.Values{"partNumber": {strconv.Itoa(i + 1)}, "uploadId": {id}}
		u, err := a.client.Presign(ctx, "PUT", a.cfg.Bucket, key, a.cfg.PresignExpiry, q)
		if err != nil {
			a.abort(ctx, key, id)
			return nil, a.mapErr("presign", p, err)
		}
		up.Parts[i] = trainyard.PartURL{Number: i + 1, URL: u.String(), Headers: map[string]string{}}
	}
	return up, nil
}

// CompleteUpload completes an upload from the parts the client lists.
func (a *Artifacts) CompleteUpload(ctx context.Context, runID, p, uploadID string, parts []trainyard.UploadedPart) (trainyard.ArtifactInfo, error) {
	c, err := cleanFile(runID, p)
	if err != nil {
		return trainyard.ArtifactInfo{}, err
	}
	if uploadID == "" {
		return trainyard.ArtifactInfo{}, trainyard.FieldError("upload_id", "is empty")
	}
	if len(parts) == 0 || len(parts) > maxParts {
		return trainyard.ArtifactInfo{}, trainyard.FieldError("parts", "%d parts: want 1 to %d", len(parts), maxParts)
	}
	list := make([]minio.CompletePart, len(parts))
	var sums [][]byte // the parts' MD5s, where their ETags are
	for i, pt := range parts {
		etag := strings.Trim(pt.ETag, `"`)
		if pt.Number < 1 || pt.Number > maxParts || (i > 0 && pt.Number <= parts[i-1].Number) {
			return trainyard.ArtifactInfo{}, trainyard.FieldError("parts", "part %d of the list has number %d: want ascending numbers from 1 to %d", i, pt.Number, maxParts)
		}
		if etag == "" {
			return trainyard.ArtifactInfo{}, trainyard.FieldError("parts", "part %d has no etag", pt.Number)
		}
		list[i] = minio.CompletePart{PartNumber: pt.Number, ETag: etag}
		if b, err := hex.DecodeString(etag); err == nil && len(b) == 16 {
			sums = append(sums, b)
		}
	}
	key := a.key(runID, c)
	info, err := a.core.CompleteMultipartUpload(ctx, a.cfg.Bucket, key, uploadID, list, minio.PutObjectOptions{})
	if err != nil {
		return trainyard.ArtifactInfo{}, a.mapErr("complete upload of", p, err)
	}
	if len(sums) == len(parts) && isComposite(info.ETag) {
		if want := compositeETag(sums); info.ETag != want {
			a.client.RemoveObject(context.WithoutCancel(ctx), a.cfg.Bucket, key, minio.RemoveObjectOptions{})
			return trainyard.ArtifactInfo{}, fmt.Errorf("complete upload of artifact %q: the storage answered ETag %s for parts whose ETags make %s", p, info.ETag, want)
		}
	}
	st, err := a.client.StatObject(ctx, a.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return trainyard.ArtifactInfo{}, a.mapErr("complete upload of", p, err)
	}
	return trainyard.ArtifactInfo{Path: c, Size: st.Size, ModTime: st.LastModified.UTC()}, nil
}

// AbortUpload aborts an upload and discards its parts.
func (a *Artifacts) AbortUpload(ctx context.Context, runID, p, uploadID string) error {
	c, err := cleanFile(runID, p)
	if err != nil {
		return err
	}
	if uploadID == "" {
		return trainyard.FieldError("upload_id", "is empty")
	}
	if err := a.core.AbortMultipartUpload(ctx, a.cfg.Bucket, a.key(runID, c), uploadID); err != nil {
		return a.mapErr("abort upload of", p, err)
	}
	return nil
}

// DownloadURL presigns a GET of the file at path.
func (a *Artifacts) DownloadURL(ctx context.Context, runID, p string) (*trainyard.DirectDownload, error) {
	c, err := cleanFile(runID, p)
	if err != nil {
		return nil, err
	}
	key := a.key(runID, c)
	st, err := a.client.StatObject(ctx, a.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if isNotFound(err) {
			return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s has no artifact %q", runID, p)
		}
		return nil, a.mapErr("download", p, err)
	}
	q := url.Values{"response-content-disposition": {mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(c)})}}
	u, err := a.client.PresignedGetObject(ctx, a.cfg.Bucket, key, a.cfg.PresignExpiry, q)
	if err != nil {
		return nil, a.mapErr("presign", p, err)
	}
	return &trainyard.DirectDownload{URL: u.String(), Headers: map[string]string{}, Size: st.Size}, nil
}
