package s3sign

import (
	"github.com/blobvalet/blobvalet/errs"
)

// Op is one of the S3 requests blobvalet signs for a browser.
type Op int

// The requests signed: Fine Uploader's four REST requests, and Uppy's six
// (its PutObject, and the same multipart requests plus ListParts).
const (
	// Put is PutObject: PUT /key (Uppy's small files).
	Put Op = iota + 1
	// Initiate is CreateMultipartUpload: POST /key?uploads.
	Initiate
	// Part is UploadPart: PUT /key?partNumber=N&uploadId=ID.
	Part
	// Complete is CompleteMultipartUpload: POST /key?uploadId=ID.
	Complete
	// ListParts is GET /key?uploadId=ID (Uppy's resume).
	ListParts
	// Abort is AbortMultipartUpload: DELETE /key?uploadId=ID.
	Abort
)

var opNames = [...]string{Put: "put", Initiate: "initiate", Part: "part", Complete: "complete", ListParts: "list-parts", Abort: "abort"}

// String names the op in log lines.
func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// Starts reports whether the op starts an upload (Put, Initiate), as
// opposed to continuing one that an earlier signature started.
func (o Op) Starts() bool { return o == Put || o == Initiate }

// V2Message is the reason a signature version 2 request is refused: v2
// binds neither the host nor the payload, and AWS turned it off for new
// buckets.
const V2Message = "signature version 2 is not signed: set signature.version: 4"

// The errors' op names.
const (
	opREST    = "s3sign.rest"
	opPolicy  = "s3sign.policy"
	opPresign = "s3sign.presign"
)

// refuse is a request that parsed but is not one blobvalet signs (403).
func refuse(op, reason string) error { return errs.E(op, errs.Forbidden, reason) }

// malformed is a request that does not parse (400).
func malformed(op, reason string, err error) error { return errs.Wrap(op, errs.Invalid, reason, err) }

// v2 is a signature version 2 request (400).
func v2(op string) error { return errs.E(op, errs.Invalid, V2Message) }
