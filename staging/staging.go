// Package staging keeps unverified uploads apart from verified ones. Every
// upload goes first to a private staging container, under a name that is a
// function of the uploader, the final container and the final name, so a
// user can only ever touch their own unverified uploads. Only the
// upload-success check moves a blob from there to its final name; the
// sweeper removes what is never verified.
package staging

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/blobvalet/blobvalet/blobref"
)

// MaxSegments is Azure's limit on the "/"-separated segments of a blob name.
const MaxSegments = 254

// ErrNameTooLong means a final name leaves no room for the staging prefix.
var ErrNameTooLong = errors.New("blob name is too long to stage")

// Area is the staging container of one storage account: it names the
// staging blobs, and does no I/O.
type Area struct {
	// Container is the private container that holds unverified uploads.
	Container string
	// LimitBytes counts a staging name's length in bytes of UTF-8, as S3
	// counts its keys, rather than in characters, as Azure counts blob
	// names; the limit is blobref.MaxNameLength either way.
	LimitBytes bool
}

// Ref returns the staging blob of user's upload to final:
// "<user id, base64url>/<final container>/<final name>". No two (user,
// container, name) share one: the first segment is the user id in an
// alphabet without "/", the second a container name, which has no "/".
func (a Area) Ref(user string, final blobref.Ref) (blobref.Ref, error) {
	if user == "" {
		return blobref.Ref{}, errors.New("staging: no user")
	}
	name := base64.RawURLEncoding.EncodeToString([]byte(user)) + "/" + final.Container + "/" + string(final.Name)
	length, unit := utf8.RuneCountInString, "characters"
	if a.LimitBytes {
		length, unit = func(s string) int { return len(s) }, "bytes"
	}
	if n := length(name); n > blobref.MaxNameLength {
		return blobref.Ref{}, fmt.Errorf("%w: at most %d %s for this user, got %d", ErrNameTooLong,
			blobref.MaxNameLength-(n-length(string(final.Name))), unit, length(string(final.Name)))
	}
	if strings.Count(name, "/")+1 > MaxSegments {
		return blobref.Ref{}, fmt.Errorf("%w: at most %d path segments", ErrNameTooLong, MaxSegments-2)
	}
	// The parts were checked: the final name by blobref.ParseName, the
	// container by the configuration.
	return blobref.Ref{Container: a.Container, Name: blobref.Name(name)}, nil
}

// Final returns the user and the final blob of a staging blob name, the
// inverse of Ref. ok is false for a name Ref cannot produce, such as the
// sweeper's lock blob.
func Final(name string) (user string, final blobref.Ref, ok bool) {
	enc, rest, ok1 := strings.Cut(name, "/")
	container, blob, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || container == "" || blob == "" {
		return "", blobref.Ref{}, false
	}
	u, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(u) == 0 {
		return "", blobref.Ref{}, false
	}
	return string(u), blobref.Ref{Container: container, Name: blobref.Name(blob)}, true
}
