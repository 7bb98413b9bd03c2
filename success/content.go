package success

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/bytesize"
)

// sniffLen is how much of a blob is read, in the one ranged read that also
// returns its properties, to tell its type: the sniffer reads the first
// 512 bytes, and text is searched for markup in all of it.
const sniffLen = 8 << 10

// RuleViolation says which check a blob failed, in words for its uploader.
type RuleViolation struct {
	// Check is content_encoding, content_type (the declared type does not
	// parse), max_size, extensions or content_types.
	Check   string
	Message string
}

// Verdict is what the content check found out about an upload that
// passed: the type it is stored with and how a browser is to open it.
type Verdict struct {
	// ContentType is the verified type: read from the content where the
	// content tells, else the uploader's declared type.
	ContentType string
	// Disposition is "inline" for types that are safe to show on the
	// storage origin (raster images, plain text, PDF), else "attachment".
	Disposition string
}

// Verify checks an upload against a rule's constraints: no content
// encoding, a declared type that is one media type, its stored size, its
// name's ending, and both the type the browser declared and the type its
// first bytes show. It returns the verdict for an upload that passes and
// the violation for one that does not.
//
// The content's type is sniffed as browsers do (the WHATWG rules, as
// net/http implements them) and, for anything that sniffs as text, also
// looked for markup anywhere in the first sniffLen bytes, after a
// byte-order mark or lines of text: a browser that is told the type would not run it, but a
// file that holds HTML is not a picture.
func Verify(c authz.Constraints, name blobref.Name, p blobstore.Props, head []byte) (Verdict, *RuleViolation) {
	if p.ContentEncoding != "" {
		return Verdict{}, &RuleViolation{"content_encoding", fmt.Sprintf("files may not be stored with a Content-Encoding (this one has %q); upload the file as it is", capped(p.ContentEncoding))}
	}
	declared := ""
	if strings.TrimSpace(p.ContentType) != "" {
		mt, err := authz.ParseMediaType(p.ContentType)
		if err != nil {
			return Verdict{}, &RuleViolation{"content_type", fmt.Sprintf("file type %q is not one media type; upload the file with a single type such as image/png", capped(p.ContentType))}
		}
		declared = mt
	}
	if c.MaxSize > 0 && p.Size > c.MaxSize {
		return Verdict{}, &RuleViolation{"max_size", fmt.Sprintf("file is %s; the limit is %s", bytesize.Decimal(p.Size), bytesize.Binary(c.MaxSize))}
	}
	if !c.AllowsName(string(name)) {
		return Verdict{}, &RuleViolation{"extensions", "file name must end in " + orList(c.Extensions)}
	}
	sniffed := Sniff(head)
	verified := verifiedType(declared, sniffed)
	if len(c.ContentTypes) > 0 {
		allowed := strings.Join(c.ContentTypes, ", ")
		switch {
		case declared != "" && !c.AllowsContentType(declared):
			return Verdict{}, &RuleViolation{"content_types", fmt.Sprintf("file type %s is not allowed (allowed: %s)", capped(declared), allowed)}
		case verified == "application/octet-stream" && !c.AllowsContentType(verified):
			return Verdict{}, &RuleViolation{"content_types", fmt.Sprintf("file type is unknown (allowed: %s)", allowed)}
		case !c.AllowsContentType(verified):
			return Verdict{}, &RuleViolation{"content_types", fmt.Sprintf("file content is %s, not an allowed type (allowed: %s)", verified, allowed)}
		}
	}
	ct := verified
	if strings.HasPrefix(ct, "text/") {
		if _, params, ok := strings.Cut(http.DetectContentType(head), ";"); ok && strings.HasPrefix(sniffed, "text/") {
			ct += ";" + params
		}
	}
	return Verdict{ContentType: ct, Disposition: Disposition(verified)}, nil
}

// verifiedType picks the type an upload is stored with: the content's own
// type where the sniffer recognises one, the declared type where the
// content agrees with it or cannot tell, never a declared type that the
// content contradicts.
func verifiedType(declared, sniffed string) string {
	switch sniffed {
	case "application/octet-stream": // binary the sniffer does not know
		if declared != "" && !hasSignature(declared) && !isText(declared) {
			return declared
		}
	case "text/plain": // text without markup
		if declared != "" && isText(declared) && !authz.IsActive(declared) {
			return declared
		}
	case "application/zip": // the container of many document formats
		if declared != "" && !hasSignature(declared) && !isText(declared) && !authz.IsActive(declared) {
			return declared
		}
	}
	return sniffed
}

// Sniff returns the media type of content from its first bytes.
func Sniff(head []byte) string {
	mt := authz.MediaType(http.DetectContentType(head))
	switch mt {
	case "text/plain", "text/xml":
		if m := findMarkup(head); m != "" {
			return m
		}
	}
	return mt
}

// markupTags are the start tags that make text HTML to a browser that
// sniffs, and those that run script, wherever they stand.
var markupTags = []string{
	"!doctype html", "html", "head", "body", "script", "iframe", "frameset", "frame", "object", "embed",
	"applet", "meta", "link", "base", "style", "form", "img", "title", "template", "noscript",
}

// findMarkup looks for markup anywhere in text, after a byte-order mark
// and in UTF-16 too, and returns its type: text/html, image/svg+xml,
// text/xml, or "".
func findMarkup(head []byte) string {
	text := head
	switch {
	case bytes.HasPrefix(text, []byte{0xFE, 0xFF}), bytes.HasPrefix(text, []byte{0xFF, 0xFE}):
		text = bytes.ReplaceAll(text[2:], []byte{0}, nil)
	case bytes.HasPrefix(text, []byte{0xEF, 0xBB, 0xBF}):
		text = text[3:]
	}
	lower := bytes.ToLower(text)
	found := ""
	for i := bytes.IndexByte(lower, '<'); i >= 0; {
		rest := lower[i+1:]
		switch {
		case tagAt(rest, "svg"):
			return "image/svg+xml"
		case found == "" && startsWithAny(rest):
			found = "text/html"
		case found == "" && bytes.HasPrefix(rest, []byte("?xml")):
			found = "text/xml"
		}
		j := bytes.IndexByte(rest, '<')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return found
}

func startsWithAny(rest []byte) bool {
	for _, tag := range markupTags {
		if tagAt(rest, tag) {
			return true
		}
	}
	return false
}

// tagAt reports whether b starts with tag followed by the end of a tag
// name (space, "/", ">" or the end of the bytes read).
func tagAt(b []byte, tag string) bool {
	if !bytes.HasPrefix(b, []byte(tag)) {
		return false
	}
	if len(b) == len(tag) {
		return true
	}
	switch b[len(tag)] {
	case ' ', '\t', '\n', '\r', '\f', '/', '>':
		return true
	}
	return false
}

// hasSignature reports whether the sniffer recognises this type by its
// leading bytes, so that content without them is not of this type.
func hasSignature(mt string) bool {
	switch mt {
	case "image/png", "image/jpeg", "image/jpg", "image/pjpeg", "image/gif", "image/webp", "image/bmp",
		"image/x-icon", "image/vnd.microsoft.icon", "application/pdf", "application/postscript",
		"application/zip", "application/x-gzip", "application/gzip", "application/x-rar-compressed",
		"application/wasm", "application/ogg", "audio/mpeg", "audio/mp3", "audio/wave", "audio/wav", "audio/x-wav",
		"audio/aiff", "audio/midi", "video/mp4", "video/webm", "video/avi",
		"font/ttf", "font/otf", "font/woff", "font/woff2", "font/collection":
		return true
	}
	return false
}

// isText reports whether a type is text a person could read.
func isText(mt string) bool {
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/csv" || mt == "application/x-ndjson" || mt == "application/yaml"
}

// Disposition returns "inline" for a type that is safe to open on the
// storage origin (raster images, plain text, PDF) and "attachment" for any
// other, so that a browser saves it instead of running it.
func Disposition(mt string) string {
	switch authz.MediaType(mt) {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif", "image/apng",
		"image/x-icon", "image/vnd.microsoft.icon", "text/plain", "application/pdf":
		return "inline"
	}
	return "attachment"
}

// IsRasterImage reports whether a type is a raster image a page can show.
func IsRasterImage(mt string) bool {
	mt = authz.MediaType(mt)
	return strings.HasPrefix(mt, "image/") && Disposition(mt) == "inline"
}

// capped shortens an untrusted value for a message or a log line.
func capped(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

func orList(l []string) string {
	if len(l) <= 1 {
		return strings.Join(l, "")
	}
	return strings.Join(l[:len(l)-1], ", ") + " or " + l[len(l)-1]
}
