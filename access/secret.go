package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/trainyard/trainyard"
	"golang.org/x/crypto/argon2"
)

// Secrets. A stored token is 32 random bytes, base64url, behind a prefix
// that says what it is (as GitHub's ghp_ do, so that secret scanners and
// people can tell): tya_ an API token, tys_ a session. Only the SHA-256 of
// the whole string is stored; 256 random bits need no slow hash. A job's
// token is derived, not stored: tyj_<job id>.<HMAC-SHA256 of the id under
// the server's secret>, valid while its job runs. Passwords are hashed
// with argon2id (RFC 9106) at OWASP's parameters and kept as a PHC string.

// Prefixes of secrets.
const (
	PrefixAPI     = "tya_"
	PrefixSession = "tys_"
	PrefixJob     = "tyj_"
)

// newSecret returns a fresh secret with the prefix.
func newSecret(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// hashSecret is what the store keeps of a secret: hex SHA-256.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// displayPrefix is the start of a secret shown in lists: its kind's prefix
// and 6 characters, 36 bits: enough to tell tokens apart, far too few to
// guess the rest.
func displayPrefix(secret string) string {
	if len(secret) > 10 {
		return secret[:10]
	}
	return secret
}

// newID is a token's public ID: 12 hex digits.
func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// jobToken derives the token of a job from the server's secret.
func jobToken(key []byte, jobID string) string {
	return PrefixJob + jobID + "." + jobMAC(key, jobID)
}

func jobMAC(key []byte, jobID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("trainyard job token\x00" + jobID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// parseJobToken returns the job a job token names, if its MAC is right.
func parseJobToken(key []byte, secret string) (jobID string, ok bool) {
	rest, ok := strings.CutPrefix(secret, PrefixJob)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	jobID, mac := rest[:i], rest[i+1:]
	want := jobMAC(key, jobID)
	return jobID, subtle.ConstantTimeCompare([]byte(mac), []byte(want)) == 1
}

// csrfToken is the value a UI session sends in X-CSRF-Token with requests
// that change state: derived from the session's secret, which a page of
// another origin cannot read (the cookie is HttpOnly), so it cannot know
// this either.
func csrfToken(session string) string {
	h := sha256.Sum256([]byte("trainyard csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(h[:18])
}

// Argon2id parameters: OWASP's first recommendation (19 MiB, 2 passes,
// one lane), ~20-40 ms a hash on a server core.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 8

// hashPassword returns the PHC string of password under a fresh salt.
func hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key))
}

// checkPassword reports whether password matches the PHC string phc (of
// any argon2id parameters, so that they can be raised later).
func checkPassword(phc, password string) bool {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 64 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// checkNewPassword refuses a password too short to be one.
func checkNewPassword(field, pw string) error {
	if len(pw) < MinPasswordLen {
		return trainyard.FieldError(field, "is %d characters; a password needs at least %d", len(pw), MinPasswordLen)
	}
	if len(pw) > 1024 {
		return trainyard.FieldError(field, "is %d characters, more than 1024", len(pw))
	}
	return nil
}

// newPassword makes a password for a user added without one: 20
// characters from 57 letters and digits that cannot be mistaken for one
// another, 116 bits.
func newPassword() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, 20)
	for i := range b {
		var r [1]byte
		for {
			rand.Read(r[:])
			if int(r[0]) < 256-256%len(alphabet) {
				break
			}
		}
		b[i] = alphabet[int(r[0])%len(alphabet)]
	}
	return string(b)
}
