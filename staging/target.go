package staging

import (
	"context"
	"errors"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
)

// Target decides a signature request for req.Blob, a final name, and
// returns the blob to sign for. The rules decide on the final name. A PUT
// is signed for the caller's own staging blob of that name: nothing
// reaches a final name before it is verified. A DELETE is signed for the
// final name, unless the caller's upload to that name is in progress
// (uploads, the one storage lookup): then it is Fine Uploader cleaning up
// a cancelled upload, and it removes the unverified upload, never a
// verified file, under the PUT rule's decision.
//
// The decision is a's and the policy's; errors are *errs.Error values.
func (a Area) Target(ctx context.Context, policy *authz.Policy, uploads blobstore.Prober, req authz.Request) (blobref.Ref, authz.Decision, error) {
	const op = "sas.issue"
	d := policy.Decide(req)
	if req.Method != authz.Delete {
		if !d.Allow {
			return req.Blob, d, nil
		}
		staged, err := a.Ref(req.User.ID, req.Blob)
		if err != nil {
			return blobref.Ref{}, d, errs.Wrap(op, errs.Invalid, err.Error(), err)
		}
		return staged, d, nil
	}
	put := policy.Decide(authz.Request{User: req.User, Method: authz.Put, Blob: req.Blob})
	if !put.Allow {
		return req.Blob, d, nil // no upload of the caller's can be under way
	}
	staged, err := a.Ref(req.User.ID, req.Blob)
	if errors.Is(err, ErrNameTooLong) {
		// A name too long to stage was never signed for upload, so no
		// upload to it is in progress: the DELETE is for the final name.
		return req.Blob, d, nil
	}
	if err != nil {
		return blobref.Ref{}, d, errs.Wrap(op, errs.Invalid, err.Error(), err)
	}
	busy, err := uploads.InProgress(ctx, staged)
	if err != nil {
		return blobref.Ref{}, d, errs.Wrap(op, errs.Unavailable, "storage is not answering; try again", blobstore.Wrap(err))
	}
	if busy {
		return staged, put, nil
	}
	return req.Blob, d, nil
}
