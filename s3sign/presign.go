package s3sign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxPresignLifetime is the longest a presigned URL may live: signature
// version 4's limit, 7 days.
const MaxPresignLifetime = 7 * 24 * time.Hour

// PresignRequest is what Uppy's signRequest asks to sign, as a page posts
// it: {"method", "key", "uploadId", "partNumber"}.
type PresignRequest struct {
	Method     string `json:"method"`
	Key        string `json:"key"`
	UploadID   string `json:"uploadId,omitempty"`
	PartNumber int    `json:"partNumber,omitempty"`
}

// ParsePresign parses the JSON of a presign request and tells which of
// the six requests it is: Put, Initiate (POST without an upload id),
// Part, Complete, ListParts (GET) or Abort (DELETE). Errors are
// *errs.Error values: Invalid for a body that does not parse, Forbidden
// for a request Uppy never signs.
func ParsePresign(body []byte) (PresignRequest, Op, error) {
	var raw struct {
		PresignRequest
		// ExpiresIn is in Uppy's type but never set; blobvalet's lifetime
		// decides.
		ExpiresIn *json.RawMessage `json:"expiresIn,omitempty"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&raw); err != nil {
		return PresignRequest{}, 0, malformed(opPresign, "the body is not a JSON object of method, key, uploadId and partNumber", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return PresignRequest{}, 0, malformed(opPresign, "the body is followed by more data", nil)
	}
	r := raw.PresignRequest
	if r.Key == "" || len(r.Key) > MaxKeyLength || !utf8.ValidString(r.Key) {
		return r, 0, malformed(opPresign, fmt.Sprintf("the key is empty, longer than %d bytes or not UTF-8", MaxKeyLength), nil)
	}
	op, err := r.op()
	if err != nil {
		return r, 0, refuse(opPresign, err.Error())
	}
	if r.UploadID != "" {
		if err := checkUploadID(r.UploadID); err != nil {
			return r, 0, refuse(opPresign, err.Error())
		}
	}
	return r, op, nil
}

// op tells which request r is.
func (r PresignRequest) op() (Op, error) {
	withID, withPart := r.UploadID != "", r.PartNumber != 0
	if withPart && (r.PartNumber < 1 || r.PartNumber > MaxParts) {
		return 0, fmt.Errorf("part number %d is not 1 to %d", r.PartNumber, MaxParts)
	}
	switch {
	case r.Method == "PUT" && !withID && !withPart:
		return Put, nil
	case r.Method == "POST" && !withID && !withPart:
		return Initiate, nil
	case r.Method == "PUT" && withID && withPart:
		return Part, nil
	case r.Method == "POST" && withID && !withPart:
		return Complete, nil
	case r.Method == "GET" && withID && !withPart:
		return ListParts, nil
	case r.Method == "DELETE" && withID && !withPart:
		return Abort, nil
	}
	return 0, errors.New("only PUT, POST (create, complete), PUT with uploadId and partNumber, GET and DELETE with uploadId are signed")
}

// Presign returns a URL, valid for lifetime, that lets its holder make the
// request op on key in the staging bucket, and nothing else: the method,
// key, upload id and part number are signed, with the host header only
// (Uppy sends no other that could be). uploadID is required for all but
// Put and Initiate, part for Part.
func (s *Signer) Presign(op Op, key, uploadID string, part int, lifetime time.Duration) (string, error) {
	switch {
	case key == "" || len(key) > MaxKeyLength || !utf8.ValidString(key):
		return "", fmt.Errorf("s3sign: key is empty, longer than %d bytes or not UTF-8", MaxKeyLength)
	case lifetime < time.Second || lifetime > MaxPresignLifetime:
		return "", fmt.Errorf("s3sign: lifetime %v is not 1s to %v", lifetime, MaxPresignLifetime)
	case op.Starts() != (uploadID == ""):
		return "", fmt.Errorf("s3sign: %s with upload id %q", op, uploadID)
	case (op == Part) != (part != 0), part < 0 || part > MaxParts:
		return "", fmt.Errorf("s3sign: %s with part number %d", op, part)
	}
	var method string
	var params [][2]string
	switch op {
	case Put:
		method = "PUT"
	case Initiate:
		method, params = "POST", [][2]string{{"uploads", ""}}
	case Part:
		method, params = "PUT", [][2]string{{"partNumber", strconv.Itoa(part)}, {"uploadId", uploadID}}
	case Complete:
		method, params = "POST", [][2]string{{"uploadId", uploadID}}
	case ListParts:
		method, params = "GET", [][2]string{{"uploadId", uploadID}}
	case Abort:
		method, params = "DELETE", [][2]string{{"uploadId", uploadID}}
	default:
		return "", fmt.Errorf("s3sign: unknown op %d", op)
	}
	host, path := s.host, "/"+uriEncode(key, true)
	if s.pathStyle {
		host, path = s.endpoint, "/"+uriEncode(s.bucket, false)+path
	}
	t := s.now().UTC()
	day := t.Format(dayFormat)
	scope := s.scope(day)
	params = append(params,
		[2]string{"X-Amz-Algorithm", Algorithm},
		[2]string{"X-Amz-Credential", s.accessKey + "/" + scope},
		[2]string{"X-Amz-Date", t.Format(amzDateFormat)},
		[2]string{"X-Amz-Expires", strconv.FormatInt(int64(lifetime/time.Second), 10)},
		[2]string{"X-Amz-SignedHeaders", "host"},
	)
	for i := range params {
		params[i] = [2]string{uriEncode(params[i][0], false), uriEncode(params[i][1], false)}
	}
	slices.SortFunc(params, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	enc := make([]string, len(params))
	for i, p := range params {
		enc[i] = p[0] + "=" + p[1]
	}
	query := strings.Join(enc, "&")
	canonical := method + "\n" + path + "\n" + query + "\nhost:" + host + "\n\nhost\nUNSIGNED-PAYLOAD"
	sig := s.sign(day, StringToSign(t, scope, canonical))
	return s.scheme + "://" + host + path + "?" + query + "&X-Amz-Signature=" + sig, nil
}
