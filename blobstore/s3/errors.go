package s3

import (
	"errors"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/blobvalet/blobvalet/blobstore"
)

// Wrap returns the error of an S3 call classified, as a *blobstore.Error
// that is its class's sentinel (blobstore.ErrNotFound, ErrChanged, …),
// carries the HTTP status and S3's error code, and unwraps to err; nil for
// nil. S3's answer decides by its error code (smithy.APIError) where
// blobvalet knows it, else by its status (awshttp.ResponseError); without an
// answer, blobstore.Classify decides (a network error is ErrUnreachable).
//
// A 412 is ErrChanged here: a condition on the object failed. Where the
// condition was that no object exists (If-None-Match: *), the method that
// set it answers ErrTaken instead (wrapAs).
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *blobstore.Error
	if errors.As(err, &e) {
		return err
	}
	status := statusOf(err)
	if status == 0 {
		// The SDK wraps a request that got no answer in a ResponseError
		// of status 0.
		return blobstore.Wrap(err)
	}
	var code string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	return &blobstore.Error{Class: classify(code, status), Status: status, Code: code, Err: err}
}

// Classify returns the class of an S3 call's error.
func Classify(err error) blobstore.Class {
	return blobstore.Classify(Wrap(err))
}

func classify(code string, status int) blobstore.Class {
	switch code {
	case "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound":
		return blobstore.NotFound
	case "PreconditionFailed":
		return blobstore.Changed
	case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken", "InvalidToken", "AllAccessDisabled":
		return blobstore.Refused
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests":
		return blobstore.Throttled
	case "RequestTimeout":
		return blobstore.Slow
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return blobstore.Refused
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return blobstore.Throttled
	case http.StatusNotFound:
		return blobstore.NotFound
	case http.StatusPreconditionFailed:
		return blobstore.Changed
	case http.StatusConflict:
		// ConditionalRequestConflict among others: another conditional
		// write to the key is under way.
		return blobstore.Conflict
	}
	return blobstore.Failed
}

// wrapAs is Wrap, with the class a method knows from its context: a 412
// on If-None-Match: * means the name is taken, not that a blob changed.
func wrapAs(c blobstore.Class, err error) error {
	var e *blobstore.Error
	if errors.As(Wrap(err), &e) {
		e.Class = c
		return e
	}
	return &blobstore.Error{Class: c, Err: err}
}

// statusOf is the HTTP status of S3's answer in err; 0 without one.
func statusOf(err error) int {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil || re.Response.Response == nil {
		return 0
	}
	return re.Response.StatusCode
}

// isStatus reports whether err is S3's answer with that HTTP status.
func isStatus(err error, status int) bool {
	return err != nil && statusOf(err) == status
}
