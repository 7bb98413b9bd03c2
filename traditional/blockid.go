package traditional

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
)

// MaxParts is the most blocks Azure commits in one blob, and so the most
// parts of one upload.
const MaxParts = 50_000

// blockIDPrefix marks the blocks of this endpoint, version 1.
const blockIDPrefix = "fu1\x00"

// blockIDLen is the length of every block id: base64 of 4 + 16 + 4 bytes.
// Azure wants every block of a blob to have ids of one length.
const blockIDLen = 32

// UUID is a Fine Uploader file id, checked: qq.getUniqueId's version 4
// format, lower case.
type UUID struct {
	s string
	b [16]byte
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// ErrBadUUID means a qquuid is not a version 4 UUID.
var ErrBadUUID = errors.New("qquuid is not a UUID such as 0b472b64-1f67-4a58-add2-09137b37f3e4")

// ParseUUID checks a qquuid.
func ParseUUID(s string) (UUID, error) {
	if !uuidRE.MatchString(s) {
		return UUID{}, ErrBadUUID
	}
	u := UUID{s: s}
	if _, err := hex.Decode(u.b[:], []byte(strings.ReplaceAll(s, "-", ""))); err != nil {
		return UUID{}, ErrBadUUID
	}
	return u, nil
}

// String returns the UUID as Fine Uploader writes it.
func (u UUID) String() string { return u.s }

// IsZero reports whether u is the zero UUID, which no parse returns.
func (u UUID) IsZero() bool { return u.s == "" }

// BlockID returns the id of part i of upload u:
// base64("fu1\0" ‖ uuid ‖ uint32 big-endian i). The ids say which upload
// and which part a block is, so that completion and resume need no memory
// of their own, and a repeated part overwrites its block.
func BlockID(u UUID, part int) string {
	var b [24]byte
	copy(b[:4], blockIDPrefix)
	copy(b[4:20], u.b[:])
	binary.BigEndian.PutUint32(b[20:], uint32(part))
	return base64.StdEncoding.EncodeToString(b[:])
}

// partOf returns the part index of block id if it is one of u's.
func partOf(u UUID, id string) (int, bool) {
	if len(id) != blockIDLen {
		return 0, false
	}
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) != 24 || string(b[:4]) != blockIDPrefix || [16]byte(b[4:20]) != u.b {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(b[20:])), true
}
