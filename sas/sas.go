// Package sas issues service SAS URIs scoped to one blob and one operation,
// in the form Fine Uploader Azure uses them: the blob URL followed by the SAS
// query, to which the client appends its own parameters with "&".
package sas

import (
	"errors"
	"fmt"

	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/blobvalet/blobvalet/authz"
)

// Permissions is a blob SAS permission set.
type Permissions struct {
	Read, Create, Write, Delete bool
}

// permissionStrings holds every permission set's "sp" value, indexed by
// Permissions.bits, in the order Azure requires (racwd…).
var permissionStrings = func() (s [16]string) {
	for i := range s {
		p := Permissions{Read: i&1 != 0, Create: i&2 != 0, Write: i&4 != 0, Delete: i&8 != 0}
		s[i] = (&azsas.BlobPermissions{Read: p.Read, Create: p.Create, Write: p.Write, Delete: p.Delete}).String()
	}
	return s
}()

func (p Permissions) bits() int {
	b := 0
	if p.Read {
		b |= 1
	}
	if p.Create {
		b |= 2
	}
	if p.Write {
		b |= 4
	}
	if p.Delete {
		b |= 8
	}
	return b
}

// String returns the permissions as in the SAS "sp" field, e.g. "rw".
func (p Permissions) String() string { return permissionStrings[p.bits()] }

// PermissionsFor returns the least permissions that let the browser do
// method: write for a PUT, which goes to the uploader's own staging blob
// (overwriting one's own unverified upload harms nobody, and a rule's
// overwrite: false is enforced when the upload is promoted), and delete for
// DELETE. Never read. Write alone lets Put Blob, Put Block and Put Block
// List create a block blob; create would add nothing Fine Uploader uses.
// Both let the holder snapshot and lease the blob, which staging.Delete
// undoes.
func PermissionsFor(method authz.Method) (Permissions, error) {
	switch method {
	case authz.Put:
		return Permissions{Write: true}, nil
	case authz.Delete:
		return Permissions{Delete: true}, nil
	}
	return Permissions{}, fmt.Errorf("sas: no permissions for method %q", method)
}

// errMissing is the SDK's refusal of a SAS without expiry or permissions,
// which the shared-key signer repeats so that both refuse the same inputs.
var errMissing = errors.New("service SAS is missing at least one of these: ExpiryTime or Permissions")
