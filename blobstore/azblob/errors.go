package azblob

import (
	"errors"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/blobvalet/blobvalet/blobstore"
)

// Wrap returns the error of an Azure Storage call (blob or queue)
// classified, as a *blobstore.Error that is its class's sentinel
// (blobstore.ErrNotFound, ErrChanged, …), carries the HTTP status and
// Azure's error code, and unwraps to err; nil for nil. Azure's answer
// decides by its error code where blobvalet knows it, else by its status;
// without an answer, blobstore.Classify decides.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *blobstore.Error
	if errors.As(err, &e) {
		return err
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return blobstore.Wrap(err)
	}
	return &blobstore.Error{Class: classify(err, re), Status: re.StatusCode, Code: re.ErrorCode, Err: err}
}

// Classify returns the class of an Azure Storage call's error.
func Classify(err error) blobstore.Class {
	return blobstore.Classify(Wrap(err))
}

func classify(err error, re *azcore.ResponseError) blobstore.Class {
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound):
		return blobstore.NotFound
	case bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.SourceConditionNotMet, bloberror.CannotVerifyCopySource):
		return blobstore.Changed
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists):
		return blobstore.Taken
	case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
		return blobstore.Refused
	case re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusServiceUnavailable:
		return blobstore.Throttled
	case re.StatusCode == http.StatusNotFound:
		return blobstore.NotFound
	case re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusPreconditionFailed:
		return blobstore.Conflict
	case re.ErrorCode == "OperationTimedOut":
		return blobstore.Slow
	}
	return blobstore.Failed
}

// wrapAs is Wrap, with the class a method knows from its context: a lease
// that another holds is Taken, whatever its status says generally.
func wrapAs(c blobstore.Class, err error) error {
	var e *blobstore.Error
	if errors.As(Wrap(err), &e) {
		e.Class = c
		return e
	}
	return &blobstore.Error{Class: c, Err: err}
}
