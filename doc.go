// Package trainyard holds the domain of the trainyard platform: jobs and the
// resources they ask for, runs with their config, metrics, tags and
// artifacts, the error type every layer returns, and the narrow interfaces
// (stores, executors) that adapters implement.
//
// Nothing in this package does I/O. Adapters live in their own packages
// (sqlite, executor/local, gpu, http) and only cmd/trainyard wires them
// together. See docs/architecture.md for the picture.
package trainyard
