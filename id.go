package trainyard

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns 12 random hex digits: short enough to type. Stores refuse
// the rare duplicate with ECONFLICT, and creators draw again.
func NewID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
