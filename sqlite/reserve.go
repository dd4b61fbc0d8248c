package sqlite

import (
	"errors"
	"log/slog"
	"os"
	"syscall"
)

// ReserveBytes is the size of the reserve kept next to the database so
// that it can be opened on a full disk.
const ReserveBytes = 4 << 20

func reservePath(db string) string { return db + "-reserve" }

// releaseReserve deletes the reserve and reports whether there was one.
func releaseReserve(db string) bool {
	return os.Remove(reservePath(db)) == nil
}

// keepReserve makes the reserve when it is missing and there is room:
// allocated blocks, not a sparse file, so that deleting it frees them.
func keepReserve(db string) {
	p := reservePath(db)
	if st, err := os.Stat(p); err == nil && st.Size() == ReserveBytes {
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	err = allocate(f, ReserveBytes)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		slog.Warn("no room for the database's disk reserve; a start on a full disk may fail", "path", p, "err", err)
	}
}

// allocate gives f n bytes of real blocks.
func allocate(f *os.File, n int64) error {
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, n); err == nil {
		return nil
	}
	zeros := make([]byte, 64<<10)
	for off := int64(0); off < n; off += int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(int64(len(zeros)), n-off)]); err != nil {
			return err
		}
	}
	return nil
}

// isShmError reports SQLite's failure to make its shared-memory index,
// which is what a full disk gives when a database is opened.
func isShmError(err error) bool {
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == 10 // SQLITE_IOERR_SHM*
}
