package metricengine

import (
	"context"
	"errors"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/chunk"
)

// Backend is what the engine needs of a store: rows of series and chunks,
// in transactions. It holds SQL and nothing else; every rule lives in the
// engine.
type Backend interface {
	// RunExists reports whether a run is stored.
	RunExists(ctx context.Context, runID string) (bool, error)
	// BeginWrite starts a write transaction. The engine has one open at a
	// time (its writer goroutine), so a backend may keep one connection
	// for it.
	BeginWrite(ctx context.Context) (WriteTx, error)
	// BeginRead starts a read-only transaction that sees one snapshot.
	BeginRead(ctx context.Context) (ReadTx, error)
}

// SeriesRow is a series as stored: its summary, where its chunks stand,
// and a version that every update increases (so that several processes
// writing one database notice each other's writes).
type SeriesRow struct {
	ID        int64
	Summary   trainyard.MetricSummary
	NextSeq   int64 // the sequence number the next chunk gets
	TailStart int64 // the first chunk not yet sealed by compaction
	TailN     int64 // chunks from TailStart on
	Version   int64
	// The largest step and time of the stored points (math.MinInt64 for
	// none), which the backend reads from the chunks and UpdateSeries does
	// not write: a point beyond either cannot equal a stored one. MaxTime
	// is math.MaxInt64 (unknown) when a chunk has no time range (stored
	// before chunks had one).
	MaxStep, MaxTime int64
}

// Chunk is one chunk row.
type Chunk struct {
	Seq  int64
	Meta chunk.Meta
	LOD  []byte // the chunk's level of detail (chunk.EncodeLOD); nil for chunks stored before there was one
	Data []byte // the points (chunk.Encode)
	// The range of the points' times (Unix ms), so that a point equal to a
	// stored one is found without reading every chunk.
	MinTime, MaxTime int64
}

// RunFields is what a log-batch writes to its run's row besides points
// (see UpdateRun).
type RunFields struct {
	Config map[string]any    // the whole config after the batch
	Tags   map[string]string // the whole tags after the batch
	Name   *string           // a new name; nil leaves it
	// What changed: params added to the config, tags set.
	NewParams map[string]any
	NewTags   map[string]string
}

// ChunkMeta is a chunk's row without its bytes.
type ChunkMeta struct {
	Seq              int64
	Count            int64
	MinStep, MaxStep int64
}

// ErrStale is what a WriteTx returns (from any method, or Commit) when
// another process changed a series since the engine read it: a series
// row's version moved, or a chunk's sequence number was taken. The engine
// rolls back, forgets what it cached and writes the group again.
var ErrStale = errors.New("metric series changed by another writer")

// WriteTx is one write transaction. Methods that return nothing but an
// error may be deferred by the backend until the next method that returns
// data, or Commit (a backend that pipelines statements); their errors then
// come from that call.
type WriteTx interface {
	// RecordBatch stores a batch ID for the run and reports false if the
	// run already had it.
	RecordBatch(ctx context.Context, runID, batchID string) (bool, error)
	// Run reads a run's config and tags, locked until the transaction
	// ends; found is false when there is no such run.
	Run(ctx context.Context, runID string) (config map[string]any, tags map[string]string, found bool, err error)
	// UpdateRun writes a run's config, tags and name (see RunFields).
	UpdateRun(ctx context.Context, runID string, f RunFields) error
	// Series loads a series, with its MaxStep and MaxTime; found is false
	// when there is none.
	Series(ctx context.Context, runID, key string) (row SeriesRow, found bool, err error)
	// CreateSeries stores a new, empty series (version 0) and returns its
	// ID. Returns ErrStale if another writer created it meanwhile.
	CreateSeries(ctx context.Context, runID, key string) (int64, error)
	// InsertChunk stores a chunk; ErrStale if its sequence number is taken.
	InsertChunk(ctx context.Context, seriesID int64, c Chunk) error
	// NearChunks calls fn with the points of each chunk that may hold a
	// point with a step in [minStep, maxStep] and a time in [minTime,
	// maxTime] (chunks without a time range included), the chunks this
	// transaction inserted too. data is valid only during the call.
	NearChunks(ctx context.Context, seriesID, minStep, maxStep, minTime, maxTime int64, fn func(data []byte) error) error
	// TailChunks calls fn with the points of each chunk from fromSeq on,
	// in order. data is valid only during the call.
	TailChunks(ctx context.Context, seriesID, fromSeq int64, fn func(data []byte) error) error
	// DeleteChunks removes the chunks from fromSeq on.
	DeleteChunks(ctx context.Context, seriesID, fromSeq int64) error
	// UpdateSeries writes row (its summary, NextSeq, TailStart, TailN) and
	// sets its version to row.Version, if the stored version is still
	// row.Version-1; otherwise the transaction fails with ErrStale.
	UpdateSeries(ctx context.Context, row SeriesRow) error
	// Commit makes the transaction durable.
	Commit(ctx context.Context) error
	// Rollback abandons the transaction; harmless after Commit.
	Rollback()
}

// ReadTx is one read-only snapshot.
type ReadTx interface {
	// SeriesID finds a series; found is false when there is none.
	SeriesID(ctx context.Context, runID, key string) (id int64, found bool, err error)
	// RunExists reports whether a run is stored.
	RunExists(ctx context.Context, runID string) (bool, error)
	// Chunks lists, in sequence order, the chunks of a series that hold a
	// step in [lo, hi].
	Chunks(ctx context.Context, seriesID, lo, hi int64) ([]ChunkMeta, error)
	// ChunkData calls fn with the points of the chunks fromSeq..toSeq, in
	// order. data is valid only during the call.
	ChunkData(ctx context.Context, seriesID, fromSeq, toSeq int64, fn func(data []byte) error) error
	// ChunkLODs calls fn with the level of detail of the chunks
	// fromSeq..toSeq, in order (nil for a chunk that has none). lod is
	// valid only during the call.
	ChunkLODs(ctx context.Context, seriesID, fromSeq, toSeq int64, fn func(seq int64, lod []byte) error) error
	// Close ends the snapshot.
	Close()
}
