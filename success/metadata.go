package success

import (
	"net/url"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blobvalet/blobvalet/blobref"
)

// Limits on the uploader's metadata that a promoted blob keeps. Azure
// allows 8 KiB of metadata in all; blobvalet's stamp needs some of it.
const (
	MaxMetadataNameLen  = 64
	MaxMetadataValueLen = 1024
	MaxUploaderMetadata = 4 << 10 // names and values together
	maxFileNameLen      = 255     // qqfilename, decoded
)

// keepMetadata reports whether an uploader's metadata pair is kept on the
// promoted blob: a name that is a C# identifier in ASCII, as Azure requires
// of metadata names, of at most MaxMetadataNameLen characters, and a value
// of printable ASCII (what Fine Uploader sends: it percent-encodes values)
// of at most MaxMetadataValueLen bytes. Fine Uploader's qqfilename must
// also decode to a plain file name that ends as the final name does, so
// that an application reading it is not told "evil.html" for a picture.
func keepMetadata(name, value string, final blobref.Name) bool {
	if !isIdentifier(name) || len(name) > MaxMetadataNameLen || len(value) > MaxMetadataValueLen {
		return false
	}
	for i := 0; i < len(value); i++ {
		if value[i] < 0x20 || value[i] > 0x7e {
			return false
		}
	}
	if name == "qqfilename" {
		return fileNameFits(value, final)
	}
	return true
}

// isIdentifier reports whether s is a C# identifier in ASCII: a letter or
// "_", then letters, digits and "_".
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// fileNameFits reports whether qqfilename, as Fine Uploader sends it
// (encodeURIComponent), decodes to one file name of UTF-8 without control
// characters or path separators, with the same ending as the final name.
func fileNameFits(value string, final blobref.Name) bool {
	name, err := url.PathUnescape(value)
	if err != nil || name == "" || len(name) > maxFileNameLen || !utf8.ValidString(name) ||
		strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	return strings.EqualFold(path.Ext(name), path.Ext(string(final)))
}
