// Package s3 keeps run artifacts in an S3-compatible bucket (AWS S3,
// MinIO, SeaweedFS, Ceph RGW, R2, ...) through minio-go: the same
// trainyard.ArtifactStore as package disk, passing the same conformance
// suite (artifacttest), and a trainyard.ArtifactTransfers for MLflow
// clients that move bytes themselves.
//
//	s3://BUCKET/PREFIX/<run>/<path>   a run's file, one object
//
// A custom endpoint (AWS_ENDPOINT_URL) is addressed path-style; the
// credentials are the ones AWS's tools find (FromEnv, Open).
//
// # Streaming and memory
//
// A put reads its stream into part buffers of Config.PartSize (8 MiB): a
// stream that ends within the first is one PUT; a longer one is a
// multipart upload with Config.Concurrency (4) parts in flight, so one
// upload holds at most 5 buffers (40 MiB) however large the file, and all
// uploads together at most Config.MaxBuffered (256 MiB) — an upload waits
// for a buffer past that. Parts grow after every 2,000 so that 10,000 hold
// ~500 GiB. A read is one GET streamed to the caller; Seek is free until
// the next Read, which then GETs the range from there.
//
//	put:  reader ──► [8 MiB] ─► PUT part 1 ─┐
//	                 [8 MiB] ─► PUT part 2 ─┼─► CompleteMultipartUpload
//	                 [8 MiB] ─► ...         ┘   (or AbortMultipartUpload)
//	read: GET ───────────────────► caller;  Seek + Read ─► GET Range: bytes=N- (If-Match: etag)
//
// # Atomicity
//
// S3 replaces an object whole: a reader sees the old object or the new
// one, concurrent puts leave the last to complete, and an upload that
// fails or is canceled is aborted, leaving nothing and keeping what was
// there. A killed server's unfinished uploads are invisible; a starting
// server aborts those older than a day (AbortStaleUploads). A reader
// keeps to the version (ETag) it opened: a ranged GET after the object
// was replaced fails with ECONFLICT instead of mixing versions.
//
// S3 has no directories. A directory is a common prefix of keys; a file
// where a directory is, or under a file, is refused (ECONFLICT) by
// looking before the upload, so two writers racing to make one name a
// file and a directory can both succeed. Empty directories do not exist.
//
// # Checksums: what is checked
//
//   - Upload: every PUT (whole object or part) carries Content-MD5 and is
//     signed with the SHA-256 of its payload (SigV4), so the server
//     refuses bytes changed on the way; the ETag it answers is compared
//     with the MD5 we computed, and a multipart object's final ETag with
//     the MD5 of the parts' MD5s (S3's composite), which also proves the
//     parts were assembled in order. A mismatch fails the put (and a
//     completed object that fails is deleted).
//   - Download: a read of the whole object, start to end, is checked
//     against what was stored with it: the MD5 of a one-PUT object (kept
//     in its metadata, x-amz-meta-trainyard-md5) or the composite ETag of a
//     multipart one (with its part size in its metadata). A mismatch fails
//     the last Read and withholds its bytes, so a copy to a client never
//     completes with wrong content. Objects of 4 MiB and more are hashed
//     on a goroutine of their own, 1 MiB behind the reads at most, so that
//     hashing and copying share two cores instead of taking turns. Reads that skip (ranges) are not
//     checked; nor are objects written by others (MLflow clients' direct
//     uploads, other tools), which carry no such metadata.
//   - Direct transfers (MLflow): S3 checks the ETags the client lists at
//     completion against the parts it holds; see transfers.go.
//
// CRC32C/SHA-256 "additional checksums" (x-amz-checksum-*) are not used:
// S3-compatible servers support them unevenly, while MD5 and SigV4's
// payload hash are universal.
package s3
