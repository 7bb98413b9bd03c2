// Package sas issues service SAS URIs scoped to one blob and one operation,
// in the form Fine Uploader Azure uses them: the blob URL followed by the SAS
// query, to which the client appends its own parameters with "&".
package sas

import (
	"errors"

	"github.com/blobvalet/blobvalet/blobstore"
)

// permissions returns the "sp" of a SAS that grants access, the least
// that lets the browser or storage do it; "" for no access.
//
// An upload gets write only: it goes to the uploader's own staging blob
// (overwriting one's own unverified upload harms nobody, and a rule's
// overwrite: false is enforced when the upload is promoted), and write alone
// lets Put Blob, Put Block and Put Block List create a block blob; create
// would add nothing Fine Uploader uses. Write and delete both let the holder
// snapshot and lease the blob, which blobvalet's delete undoes
// (blobstore.Deleter). Read is for thumbnails and the source of a
// promotion's copy, never for the browser's requests.
func permissions(a blobstore.Access) string {
	switch a {
	case blobstore.Upload:
		return "w"
	case blobstore.Delete:
		return "d"
	case blobstore.Read:
		return "r"
	}
	return ""
}

// errMissing is the SDK's refusal of a SAS without expiry or permissions,
// which the shared-key signer repeats so that both refuse the same inputs.
var errMissing = errors.New("service SAS is missing at least one of these: ExpiryTime or Permissions")
