package traditional

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blobvalet/blobvalet/errs"
)

// Part is one upload request, parsed and checked: a chunk of a file, or a
// whole file.
type Part struct {
	UUID UUID
	// FileName is qqfilename, the name of the file on the uploader's
	// machine.
	FileName string
	// Chunked is set for a chunk (qqpartindex present), unset for a whole
	// file.
	Chunked bool
	// Index and Total are qqpartindex and qqtotalparts; 0 and 1 for a
	// whole file.
	Index, Total int
	// Size is qqchunksize: this part's bytes; a whole file's own size.
	Size int64
	// FileSize is qqtotalfilesize; -1 when not sent (a whole file in raw
	// mode: then Size is the file's size).
	FileSize int64
	// Resume is qqresume=true: the client resumes an upload it began
	// before.
	Resume bool
	// ContentType is the file's declared type, where the request tells
	// it (a whole file's part header, or X-Mime-Type); "" otherwise.
	ContentType string
	// Params are the page's own params, without Fine Uploader's.
	Params map[string]string
}

// Done is a chunking.success request: the file's parts are all sent.
type Done struct {
	UUID     UUID
	FileName string
	Total    int
	FileSize int64
	Params   map[string]string
}

// Limits on what a request's fields may be.
const (
	// MaxFields caps the fields of one request, the page's params and
	// Fine Uploader's together.
	MaxFields = 64
	// MaxFieldBytes caps the names and values of a request's fields
	// together.
	MaxFieldBytes = 64 << 10
	// maxFileName caps qqfilename.
	maxFileName = 255
)

// fineUploaderFields are the fields Fine Uploader itself sends; any other
// is a page param.
var fineUploaderFields = map[string]bool{
	"qquuid": true, "qqfilename": true, "qqtotalfilesize": true, "qqpartindex": true, "qqpartbyteoffset": true,
	"qqchunksize": true, "qqtotalparts": true, "qqresume": true, "qqfile": true, "_method": true,
}

func invalid(op, msg string) error {
	e := errs.E(op, errs.Invalid, msg)
	e.PreventRetry = true
	return e
}

// ParsePart checks an upload request's fields. size is the body's length
// when the body is the file (raw mode: Content-Length), -1 for multipart.
// maxChunk is the largest part allowed.
func ParsePart(v url.Values, size, maxChunk int64) (Part, error) {
	const op = "upload.parse"
	var p Part
	var err error
	if err := checkFields(op, v); err != nil {
		return p, err
	}
	if p.UUID, p.FileName, err = identity(op, v); err != nil {
		return p, err
	}
	p.Params = pageParams(v)
	p.Resume = v.Get("qqresume") == "true"
	p.FileSize = -1
	if _, ok := v["qqtotalfilesize"]; ok {
		if p.FileSize, err = number(op, v, "qqtotalfilesize", 0, 1<<53); err != nil {
			return p, err
		}
	}
	_, p.Chunked = v["qqpartindex"]
	if !p.Chunked {
		p.Index, p.Total = 0, 1
		switch {
		case size >= 0 && p.FileSize >= 0 && size != p.FileSize:
			return p, invalid(op, fmt.Sprintf("the body has %d bytes, qqtotalfilesize says %d", size, p.FileSize))
		case size >= 0:
			p.Size = size
		case p.FileSize < 0:
			return p, invalid(op, "qqtotalfilesize is required")
		default:
			p.Size = p.FileSize
		}
		if p.Size > maxChunk {
			e := errs.E(op, errs.TooLarge, fmt.Sprintf("a file sent in one request may have at most %d bytes; turn on chunking with a smaller partSize", maxChunk))
			e.PreventRetry = true
			return p, e
		}
		p.FileSize = p.Size
		return p, nil
	}
	tot, err := number(op, v, "qqtotalparts", 1, 1<<31)
	if err != nil {
		return p, err
	}
	if tot > MaxParts {
		e := errs.E(op, errs.TooLarge, fmt.Sprintf("the file is in %d parts; at most %d are allowed: raise chunking.partSize", tot, MaxParts))
		e.PreventRetry = true
		return p, e
	}
	p.Total = int(tot)
	idx, err := number(op, v, "qqpartindex", 0, tot-1)
	if err != nil {
		return p, err
	}
	p.Index = int(idx)
	if p.Size, err = number(op, v, "qqchunksize", 1, 1<<53); err != nil {
		return p, err
	}
	if p.Size > maxChunk {
		e := errs.E(op, errs.TooLarge, fmt.Sprintf("a chunk may have at most %d bytes; lower chunking.partSize", maxChunk))
		e.PreventRetry = true
		return p, e
	}
	if size >= 0 && size != p.Size {
		return p, invalid(op, fmt.Sprintf("the body has %d bytes, qqchunksize says %d", size, p.Size))
	}
	if p.FileSize < 0 {
		return p, invalid(op, "qqtotalfilesize is required")
	}
	off, err := number(op, v, "qqpartbyteoffset", 0, 1<<53)
	if err != nil {
		return p, err
	}
	last := p.Index == p.Total-1
	switch {
	case !last && off != int64(p.Index)*p.Size:
		return p, invalid(op, "qqpartbyteoffset is not qqpartindex × qqchunksize")
	case last && off+p.Size != p.FileSize:
		return p, invalid(op, "the last part does not end at qqtotalfilesize")
	case !last && off+p.Size >= p.FileSize:
		return p, invalid(op, "a part before the last reaches the end of the file")
	}
	return p, nil
}

// ParseDone checks a chunking.success request's fields.
func ParseDone(v url.Values) (Done, error) {
	const op = "upload.done.parse"
	var d Done
	var err error
	if err := checkFields(op, v); err != nil {
		return d, err
	}
	if d.UUID, d.FileName, err = identity(op, v); err != nil {
		return d, err
	}
	tot, err := number(op, v, "qqtotalparts", 1, MaxParts)
	if err != nil {
		return d, err
	}
	d.Total = int(tot)
	if d.FileSize, err = number(op, v, "qqtotalfilesize", 1, 1<<53); err != nil {
		return d, err
	}
	d.Params = pageParams(v)
	return d, nil
}

func checkFields(op string, v url.Values) error {
	n, total := 0, 0
	for k, vs := range v {
		n += len(vs)
		total += len(k) * len(vs)
		for _, s := range vs {
			total += len(s)
		}
	}
	if n > MaxFields || total > MaxFieldBytes {
		e := errs.E(op, errs.TooLarge, fmt.Sprintf("at most %d fields of %d KiB in all", MaxFields, MaxFieldBytes>>10))
		e.PreventRetry = true
		return e
	}
	return nil
}

// identity returns the checked qquuid and qqfilename.
func identity(op string, v url.Values) (UUID, string, error) {
	if len(v["qquuid"]) != 1 {
		return UUID{}, "", invalid(op, "want exactly one qquuid (request.omitDefaultParams must stay false)")
	}
	u, err := ParseUUID(v.Get("qquuid"))
	if err != nil {
		return UUID{}, "", invalid(op, err.Error())
	}
	names := v["qqfilename"]
	if len(names) != 1 {
		return UUID{}, "", invalid(op, "want exactly one qqfilename")
	}
	name := names[0]
	if name == "" || len(name) > maxFileName || !utf8.ValidString(name) || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return UUID{}, "", invalid(op, "qqfilename must be a file name of at most 255 bytes")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return UUID{}, "", invalid(op, "qqfilename must be a file name without control characters")
		}
	}
	return u, name, nil
}

// number returns field k as an integer in [lo, hi].
func number(op string, v url.Values, k string, lo, hi int64) (int64, error) {
	vs := v[k]
	if len(vs) != 1 {
		return 0, invalid(op, "want exactly one "+k)
	}
	n, err := strconv.ParseInt(vs[0], 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, invalid(op, fmt.Sprintf("%s must be a whole number from %d to %d, got %q", k, lo, hi, errs.Clip(vs[0])))
	}
	return n, nil
}

// pageParams returns the page's own params: the first value of each field
// that is not Fine Uploader's.
func pageParams(v url.Values) map[string]string {
	out := map[string]string{}
	for k, vs := range v {
		if !fineUploaderFields[k] && len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}
