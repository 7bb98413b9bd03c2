package s3sign

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blobvalet/blobvalet/errs"
)

// MaxRESTLength caps a REST string: Fine Uploader's are a few hundred
// bytes, with the file name's metadata.
const MaxRESTLength = 8 << 10

// Header is one canonical header line: a lowercase name and its value.
type Header struct {
	Name, Value string
}

// Param is one query parameter, decoded.
type Param struct {
	Name, Value string
}

// REST is a parsed Fine Uploader v4 REST string: the string to sign with
// the canonical request in clear in place of its hash. It is only parsed;
// CheckREST decides whether it is signed.
type REST struct {
	// Date is the string's request time.
	Date time.Time
	// Scope is the credential scope, "<day>/<region>/s3/aws4_request".
	Scope  string
	Method string
	// Path is the canonical URI as sent; Key is it decoded, without the
	// leading "/".
	Path, Key string
	// Query is the canonical query as sent; Params is it decoded, in order.
	Query  string
	Params []Param
	// Headers are the canonical headers, in order; SignedHeaders names
	// them.
	Headers       []Header
	SignedHeaders []string
	// PayloadHash is the hex SHA-256 of the body.
	PayloadHash string
	// canonical is the canonical request as sent: what is hashed.
	canonical string
}

// ParseREST parses the "headers" string of Fine Uploader's v4 REST
// signature request:
//
//	AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<canonical request>
//
// where the canonical request is method, URI, query, headers, an empty
// line, the signed-header list and the payload hash. A v2 string is
// refused with V2Message. Errors are *errs.Error values (Invalid).
func ParseREST(s string) (REST, error) {
	bad := func(reason string) (REST, error) { return REST{}, malformed(opREST, reason, nil) }
	if len(s) > MaxRESTLength {
		return bad(fmt.Sprintf("the string to sign is longer than %d bytes", MaxRESTLength))
	}
	if !utf8.ValidString(s) {
		return bad("the string to sign is not valid UTF-8")
	}
	algo, rest, _ := strings.Cut(s, "\n")
	if algo != Algorithm {
		if isMethod(algo) {
			return REST{}, v2(opREST)
		}
		return bad("the string to sign does not begin with " + Algorithm)
	}
	lines := strings.Split(rest, "\n")
	// date, scope, method, path, query, at least one header, "", signed
	// headers, payload hash.
	if len(lines) < 9 {
		return bad("the string to sign is not a v4 string with a canonical request")
	}
	var r REST
	var err error
	if r.Date, err = parseAmzDate(lines[0]); err != nil {
		return bad(err.Error())
	}
	r.Scope, r.Method, r.Path, r.Query = lines[1], lines[2], lines[3], lines[4]
	r.canonical = strings.Join(lines[2:], "\n")
	if !isMethod(r.Method) {
		return bad("the canonical request's method is not an HTTP method")
	}
	if r.Key, err = decodeKey(r.Path); err != nil {
		return bad(err.Error())
	}
	if r.Params, err = parseCanonicalQuery(r.Query); err != nil {
		return bad(err.Error())
	}
	i := 5
	for ; i < len(lines) && lines[i] != ""; i++ {
		name, value, ok := strings.Cut(lines[i], ":")
		if !ok || !isHeaderName(name) {
			return bad(fmt.Sprintf("canonical header line %q is not name:value with a lowercase name", errs.Clip(lines[i])))
		}
		if len(r.Headers) > 0 && name <= r.Headers[len(r.Headers)-1].Name {
			return bad("the canonical headers are not sorted, or one is repeated")
		}
		if strings.ContainsFunc(value, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return bad("header " + name + " holds a control character")
		}
		r.Headers = append(r.Headers, Header{Name: name, Value: value})
	}
	if len(r.Headers) == 0 || i+3 != len(lines) {
		return bad("the canonical request does not end in an empty line, the signed headers and the payload hash")
	}
	r.SignedHeaders = strings.Split(lines[i+1], ";")
	if len(r.SignedHeaders) != len(r.Headers) {
		return bad("the signed headers are not the canonical headers")
	}
	for j, h := range r.Headers {
		if r.SignedHeaders[j] != h.Name {
			return bad("the signed headers are not the canonical headers")
		}
	}
	r.PayloadHash = lines[i+2]
	return r, nil
}

// header returns the value of the canonical header name.
func (r REST) header(name string) (string, bool) {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}

// Checked is a request that passed a Signer's checks: only these are
// signed. Key is the staging key it is for; the caller checks that key
// against the user and the rules before signing.
type Checked struct {
	Op  Op
	Key string
	// UploadID and PartNumber are those of the multipart requests.
	UploadID   string
	PartNumber int
	// Meta are the x-amz-meta-* values, by name without the prefix.
	Meta map[string]string

	// day and stringToSign are set by the check: the signature's day and
	// what is signed with its key.
	day, stringToSign string
}

// restShapes are the signed headers of each of Fine Uploader's requests
// besides host, x-amz-content-sha256 and x-amz-date, which every one
// signs. x-amz-meta-* come only with the initiate.
var restShapes = map[Op][]string{
	Initiate: {"x-amz-acl"},
	Part:     nil,
	Complete: nil,
	Abort:    nil,
}

// CheckREST accepts exactly the four requests Fine Uploader signs for a
// chunked upload (initiate, part, complete, abort) in the staging bucket's
// virtual host, in this signer's region, dated now, with exactly their
// headers. Everything else is refused with the reason. Errors are
// *errs.Error values (Forbidden).
func (s *Signer) CheckREST(r REST) (Checked, error) {
	no := func(format string, a ...any) (Checked, error) {
		return Checked{}, refuse(opREST, fmt.Sprintf(format, a...))
	}
	day := r.Date.UTC().Format(dayFormat)
	if r.Scope != s.scope(day) {
		return no("scope %q is not %q: the region is %s and the day is the request's", errs.Clip(r.Scope), s.scope(day), s.region)
	}
	if err := s.fresh(r.Date); err != nil {
		return Checked{}, refuse(opREST, err.Error())
	}
	c, err := restOp(r)
	if err != nil {
		return Checked{}, err
	}
	want := map[string]bool{"host": true, "x-amz-content-sha256": true, "x-amz-date": true}
	for _, h := range restShapes[c.Op] {
		want[h] = true
	}
	metaTotal := 0
	for _, h := range r.Headers {
		if name, ok := strings.CutPrefix(h.Name, "x-amz-meta-"); ok && c.Op == Initiate {
			if err := checkMeta(name, h.Value, &metaTotal); err != nil {
				return Checked{}, refuse(opREST, err.Error())
			}
			if c.Meta == nil {
				c.Meta = map[string]string{}
			}
			c.Meta[name] = h.Value
			continue
		}
		if !want[h.Name] {
			return no("header %s is not signed for a multipart %s", errs.Clip(h.Name), c.Op)
		}
		delete(want, h.Name)
	}
	if len(want) > 0 {
		missing := slices.Sorted(maps.Keys(want))
		return no("a multipart %s must sign header %s", c.Op, strings.Join(missing, ", "))
	}
	host, _ := r.header("host")
	if strings.ToLower(host) != s.host {
		return no("host %q is not the staging bucket's host %q: use its virtual-hosted endpoint", errs.Clip(host), s.host)
	}
	if d, _ := r.header("x-amz-date"); d != r.Date.UTC().Format(amzDateFormat) {
		return no("header x-amz-date %q is not the string's date", errs.Clip(d))
	}
	if !isSHA256Hex(r.PayloadHash) {
		return no("the payload hash is not 64 lowercase hex digits")
	}
	if h, _ := r.header("x-amz-content-sha256"); h != r.PayloadHash {
		return no("header x-amz-content-sha256 is not the payload hash")
	}
	if (c.Op == Initiate || c.Op == Abort) && r.PayloadHash != EmptyPayloadHash {
		return no("a multipart %s has no body, so its payload hash is that of an empty one", c.Op)
	}
	if acl, ok := r.header("x-amz-acl"); ok && acl != s.acl {
		return no("x-amz-acl %q is not %q: set objectProperties.acl to %q", errs.Clip(acl), s.acl, s.acl)
	}
	if len(r.Key) > MaxKeyLength {
		return no("the key is longer than %d bytes", MaxKeyLength)
	}
	c.Key = r.Key
	c.day = day
	c.stringToSign = StringToSign(r.Date, r.Scope, r.canonical)
	return c, nil
}

// restOp tells which of Fine Uploader's requests r is, by its method and
// its query's names, and reads the upload id and part number.
func restOp(r REST) (Checked, error) {
	var names []string
	for _, p := range r.Params {
		names = append(names, p.Name)
	}
	q := strings.Join(names, "&")
	var c Checked
	switch {
	case r.Method == "POST" && q == "uploads":
		c.Op = Initiate
		if r.Params[0].Value != "" {
			return c, refuse(opREST, "uploads takes no value")
		}
	case r.Method == "PUT" && q == "partNumber&uploadId":
		c.Op = Part
	case r.Method == "POST" && q == "uploadId":
		c.Op = Complete
	case r.Method == "DELETE" && q == "uploadId":
		c.Op = Abort
	default:
		return c, refuse(opREST, fmt.Sprintf("%s with query %q is not one of the multipart requests Fine Uploader sends (initiate, part, complete, abort)", errs.Clip(r.Method), errs.Clip(r.Query)))
	}
	for _, p := range r.Params {
		switch p.Name {
		case "uploadId":
			if err := checkUploadID(p.Value); err != nil {
				return c, refuse(opREST, err.Error())
			}
			c.UploadID = p.Value
		case "partNumber":
			n, err := parsePartNumber(p.Value)
			if err != nil {
				return c, refuse(opREST, err.Error())
			}
			c.PartNumber = n
		}
	}
	return c, nil
}

// SignREST returns the hex signature of a checked REST request.
func (s *Signer) SignREST(c Checked) string {
	return s.sign(c.day, c.stringToSign)
}

// parseAmzDate reads an x-amz-date, "20060102T150405Z".
func parseAmzDate(v string) (time.Time, error) {
	t, err := time.Parse(amzDateFormat, v)
	if err != nil || t.Format(amzDateFormat) != v {
		return time.Time{}, fmt.Errorf("date %q is not of the form 20060102T150405Z", errs.Clip(v))
	}
	return t, nil
}

// decodeKey reads the object key of a canonical URI: "/" and the key,
// each byte but the unreserved ones and "/" written %XX, as Fine Uploader
// and signature version 4 write it. Any other spelling is refused, so the
// key decoded is the one S3 sees.
func decodeKey(path string) (string, error) {
	enc, ok := strings.CutPrefix(path, "/")
	if !ok || enc == "" {
		return "", fmt.Errorf("path %q is not / and an object key", errs.Clip(path))
	}
	key, err := percentDecode(enc)
	if err != nil || uriEncode(key, true) != enc {
		return "", fmt.Errorf("path %q is not a canonical URI-encoded key", errs.Clip(path))
	}
	if !utf8.ValidString(key) {
		return "", fmt.Errorf("path %q decodes to a key that is not UTF-8", errs.Clip(path))
	}
	return key, nil
}

// parseCanonicalQuery reads a canonical query: name=value pairs joined by
// "&", sorted by name, each percent-encoded.
func parseCanonicalQuery(q string) ([]Param, error) {
	if q == "" {
		return nil, nil
	}
	var ps []Param
	for part := range strings.SplitSeq(q, "&") {
		n, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("query %q is not canonical: each parameter is name=value", errs.Clip(q))
		}
		name, err1 := percentDecode(n)
		value, err2 := percentDecode(v)
		if err1 != nil || err2 != nil || name == "" {
			return nil, fmt.Errorf("query %q is not canonical", errs.Clip(q))
		}
		if len(ps) > 0 && name <= ps[len(ps)-1].Name {
			return nil, fmt.Errorf("query %q is not sorted, or repeats a name", errs.Clip(q))
		}
		ps = append(ps, Param{Name: name, Value: value})
	}
	return ps, nil
}

// percentDecode decodes %XX escapes, refusing a "%" without two hex
// digits; "+" is a plus.
func percentDecode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("bad escape in %q", errs.Clip(s))
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// isMethod reports whether s looks like an HTTP method: a few uppercase
// letters.
func isMethod(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// isHeaderName reports whether s is a lowercase header name.
func isHeaderName(s string) bool {
	if s == "" || len(s) > MaxMetaName+len("x-amz-meta-") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// checkMeta checks one x-amz-meta-* name (without the prefix) and value,
// and adds their length to total.
func checkMeta(name, value string, total *int) error {
	switch {
	case name == "" || len(name) > MaxMetaName || !isHeaderName(strings.ToLower(name)):
		return fmt.Errorf("metadata name %q is empty, longer than %d bytes or not a token", errs.Clip(name), MaxMetaName)
	case len(value) > MaxMetaValue:
		return fmt.Errorf("metadata %s is longer than %d bytes", name, MaxMetaValue)
	case strings.ContainsFunc(value, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return fmt.Errorf("metadata %s holds a control character", name)
	}
	*total += len(name) + len(value)
	if *total > MaxMetaTotal {
		return fmt.Errorf("metadata is longer than %d bytes in all", MaxMetaTotal)
	}
	return nil
}

// checkUploadID checks a multipart upload id: printable ASCII without
// spaces, as every S3 service makes them.
func checkUploadID(id string) error {
	if id == "" || len(id) > 1024 {
		return fmt.Errorf("upload id is empty or longer than 1024 bytes")
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return fmt.Errorf("upload id %q is not printable ASCII", errs.Clip(id))
		}
	}
	return nil
}

// MaxParts is S3's largest part number.
const MaxParts = 10000

// parsePartNumber reads a part number, 1 to MaxParts, in plain decimal.
func parsePartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxParts || strconv.Itoa(n) != v {
		return 0, fmt.Errorf("part number %q is not 1 to %d", errs.Clip(v), MaxParts)
	}
	return n, nil
}
