package sched

import (
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
)

// Reasons are appended to one buffer (see Schedule), so the helpers here
// append rather than return strings.

// Satisfiable reports whether req can ever run on a machine with the given
// capacity, that is whether it fits the empty machine. Negative amounts
// count as 0. When it cannot, it returns a *trainyard.Error with code
// trainyard.EUNSATISFIABLE, Field naming the first dimension that is short
// (resources.gpus, resources.cpus or resources.memory, in that order) and a
// message that says what the machine has, such as
//
//	asks for 4 GPUs but this machine has 1 GPU (and 16 CPUs, 125.5GiB memory)
//
// When several dimensions are short the message names them all.
func Satisfiable(capacity, req trainyard.Resources) error {
	c, r := amountsOf(capacity), amountsOf(req)
	if r.fits(c) {
		return nil
	}
	return &trainyard.Error{
		Code:    trainyard.EUNSATISFIABLE,
		Field:   fieldNames[r.short(c)],
		Message: string(appendUnsatisfiable(nil, c, r)),
	}
}

var fieldNames = [ndim]string{"resources.gpus", "resources.cpus", "resources.memory"}

// appendUnsatisfiable writes "asks for 4 GPUs but this machine has 1 GPU
// (and 16 CPUs, 125.5GiB memory)". req must not fit capacity.
func appendUnsatisfiable(b []byte, capacity, req amounts) []byte {
	b = append(b, "asks for "...)
	b = appendShort(b, req, capacity, req)
	b = append(b, " but this machine has "...)
	b = appendShort(b, capacity, capacity, req)
	sep := " (and "
	for d := range ndim {
		if req[d] <= capacity[d] {
			b = append(b, sep...)
			b = appendAmount(b, d, capacity[d])
			sep = ", "
		}
	}
	if sep != " (and " {
		b = append(b, ')')
	}
	return b
}

// appendShort writes the amounts of v in the dimensions where req exceeds
// capacity, joined by "and".
func appendShort(b []byte, v, capacity, req amounts) []byte {
	first := true
	for d := range ndim {
		if req[d] > capacity[d] {
			if !first {
				b = append(b, " and "...)
			}
			b = appendAmount(b, d, v[d])
			first = false
		}
	}
	return b
}

// appendAmount writes n of dimension d: "1 GPU", "16 CPUs", "32GiB memory".
func appendAmount(b []byte, d int, n int64) []byte {
	b = appendBare(b, d, n)
	switch {
	case d == dimMem:
		return append(b, " memory"...)
	case d == dimGPU:
		b = append(b, " GPU"...)
	default:
		b = append(b, " CPU"...)
	}
	if n != 1 {
		b = append(b, 's')
	}
	return b
}

// appendBare writes n of dimension d without a noun: "3", "10GiB".
func appendBare(b []byte, d int, n int64) []byte {
	if d == dimMem {
		return append(b, trainyard.Bytes(n).String()...)
	}
	return strconv.AppendInt(b, n, 10)
}

// appendSeconds writes a non-negative d, truncated to the second, as
// time.Duration.String would: "0s", "45s", "6m0s", "1h2m3s".
func appendSeconds(b []byte, d time.Duration) []byte {
	sec := int64(d / time.Second)
	if sec < 60 {
		return append(strconv.AppendInt(b, sec, 10), 's')
	}
	if h := sec / 3600; h > 0 {
		b = append(strconv.AppendInt(b, h, 10), 'h')
	}
	b = append(strconv.AppendInt(b, sec/60%60, 10), 'm')
	return append(strconv.AppendInt(b, sec%60, 10), 's')
}

// appendNever writes the reason of a job that can never fit the machine.
func appendNever(b []byte, capacity, req amounts) []byte {
	return appendUnsatisfiable(append(b, "can never run here: "...), capacity, req)
}

// appendWaiting writes the reason of an unprotected job that does not fit
// what is free; d is the first dimension that is short: "waiting for 2
// GPUs: 1 of 4 free".
func appendWaiting(b []byte, d int, req, free, capacity amounts) []byte {
	b = appendAmount(append(b, "waiting for "...), d, req[d])
	b = appendBare(append(b, ": "...), d, free[d])
	b = appendBare(append(b, " of "...), d, capacity[d])
	return append(b, " free"...)
}

// appendHolding writes the reason of protected job i, which does not fit
// what is free and holds hold because job behind (i itself, or an aged job
// behind it) has aged: "holding 1 of 2 GPUs it needs; waiting for the rest
// (waited 6m0s, past the 5m0s backfill window)".
func (w *walk) appendHolding(i, behind int, hold amounts) {
	j := &w.jobs[i]
	d := j.req.short(hold)
	b := appendBare(append(w.buf, "holding "...), d, hold[d])
	b = appendAmount(append(b, " of "...), d, j.req[d])
	b = append(b, " it needs; waiting for the rest ("...)
	if behind == i {
		b = appendSeconds(append(b, "waited "...), j.waited)
		b = append(append(append(b, ", past the "...), w.window...), " backfill window)"...)
	} else {
		b = append(append(append(b, "queued ahead of job "...), w.jobs[behind].id...), ", which has waited past the backfill window)"...)
	}
	w.buf = b
}

// appendHeld writes the reason of a job that would fit what is free were
// it not for what protected jobs ahead of it hold; d is a dimension in
// which it falls short: "resources are held for job A, which has waited
// past the backfill window".
func (w *walk) appendHeld(d int) {
	h, behind := w.firstHolder[d], w.firstBehind[d]
	b := append(append(w.buf, "resources are held for job "...), w.jobs[h].id...)
	if h != behind {
		b = append(append(b, ", queued ahead of job "...), w.jobs[behind].id...)
	}
	w.buf = append(b, ", which has waited past the backfill window"...)
}
