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
//   - Upload: every PUT (whole object or part) carries Content-MD5, its
//     CRC32C (x-amz-checksum-crc32c; a multipart upload declares
//     x-amz-checksum-algorithm CRC32C) and is signed with the SHA-256 of
//     its payload (SigV4), so the server refuses bytes changed on the way;
//     the ETag it answers is compared with the MD5 we computed, and a
//     multipart object's final ETag with the MD5 of the parts' MD5s (S3's
//     composite), which also proves the parts were assembled in order, as
//     is its composite CRC32C when the server answers one. A mismatch
//     fails the put (and a completed object that fails is deleted).
//   - Download: a read of the whole object, start to end, is checked
//     against what was stored with it (see checker): the CRC32C the
//     server keeps (asked for with x-amz-checksum-mode: ENABLED), of the
//     whole object or COMPOSITE of its parts; on a server that keeps none,
//     the MD5 of a one-PUT object (kept in its metadata,
//     x-amz-meta-trainyard-md5) or the composite ETag of a multipart one
//     (with its part size in its metadata). A mismatch fails the last Read
//     and withholds its bytes, so a copy to a client never completes with
//     wrong content. CRC32C (hardware, several GB/s a core) is checked in
//     line; MD5 (~0.6 GB/s a core), for objects of 4 MiB and more, on a
//     goroutine of its own, 1 MiB behind the reads at most. Reads that
//     skip (ranges) are not checked; nor are objects written by others
//     (MLflow clients' direct uploads, other tools) unless the server
//     keeps a full-object CRC32C for them.
//   - Direct transfers (MLflow): S3 checks the ETags the client lists at
//     completion against the parts it holds; see transfers.go.
//
// CRC32C detects the accidental changes a check of stored bytes is for
// (every burst of up to 32 bits, and any other change with probability
// 1 - 2^-32); deliberate tampering is what SigV4 and TLS are for. A server
// that ignores the x-amz-checksum-* headers stores and answers no CRC32C,
// and its objects are checked by MD5 as before.
package s3
