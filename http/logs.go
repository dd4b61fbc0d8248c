package http

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/httplimit"
)

// readLogs answers a run's (or job's) log from ?offset=, as text. With
// ?follow=true it keeps the response open and streams new output until the
// run has ended and everything is sent. The header X-Trainyard-Log-Size
// gives the size when the answer began, so a client can resume from there.
func (s *Server) readLogs(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q := r.URL.Query()
	off, err := int64Param(q.Get("offset"), "offset")
	if err != nil {
		return err
	}
	offset := int64(0)
	if off != nil {
		if *off < 0 {
			return trainyard.FieldError("offset", "must be 0 or more")
		}
		offset = *off
	}
	follow, err := boolParam(q.Get("follow"), "follow")
	if err != nil {
		return err
	}
	rank := -1
	if v := q.Get("rank"); v != "" {
		if rank, err = intParam(v, "rank", 0, trainyard.MaxNodes*trainyard.MaxProcs); err != nil {
			return err
		}
	}
	run, err := s.cfg.Store.Run(r.Context(), id)
	if err != nil {
		return err
	}
	if rank >= 0 && run.JobID != "" {
		j, err := s.cfg.Jobs.Job(r.Context(), run.JobID)
		if err != nil {
			return err
		}
		switch ranks := j.NodeCount() * j.Procs(); {
		case rank >= ranks:
			return trainyard.FieldError("rank", "job %s has %d rank(s): 0 to %d", j.ID, ranks, ranks-1)
		case ranks == 1:
			rank = -1 // a single rank's output is the run's log
		}
	}
	open := func() (io.ReadCloser, int64, error) { return s.cfg.Logs.ReadLog(r.Context(), id, rank, offset) }
	f, size, err := open()
	if err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Trainyard-Log-Size", strconv.FormatInt(size, 10))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !follow || run.State.Terminal() {
		if f != nil {
			httplimit.Stream(r) // a long log is a download
			io.Copy(w, f)       // a failed write means the client left
		}
		return nil
	}
	w.Header().Set("Cache-Control", "no-store")
	httplimit.Stream(r) // runs as long as the client takes what is sent
	w.WriteHeader(http.StatusOK)
	fl := http.NewResponseController(w)
	fl.Flush()
	buf := make([]byte, 64<<10)
	tick := time.NewTicker(s.cfg.LogPollInterval)
	defer tick.Stop()
	ended := false
	for {
		if f == nil { // no output yet: look again
			if f, _, err = open(); err != nil {
				f = nil
			}
		}
		for f != nil {
			n, err := f.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return nil // the client left
				}
				offset += int64(n)
			}
			if n == 0 || err != nil {
				break
			}
		}
		fl.Flush()
		if ended {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
		cur, err := s.cfg.Store.Run(r.Context(), id)
		if err != nil {
			return nil
		}
		// One more read after the run ended collects its last words.
		ended = cur.State.Terminal()
	}
}

// appendLogs adds text to a run's log (for runs outside jobs, whose output
// the SDK forwards).
func (s *Server) appendLogs(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.cfg.Store.Run(r.Context(), id); err != nil {
		return err
	}
	body, release, err := s.cfg.Budget.ReadBody(w, r, s.cfg.MaxJSONBytes, costText)
	if err != nil {
		return err
	}
	defer release()
	if err := s.cfg.Logs.AppendLog(r.Context(), id, body); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int{"appended": len(body)})
}
