// Package sas issues service SAS URIs scoped to one blob and one operation,
// in the form Fine Uploader Azure uses them: the blob URL followed by the SAS
// query, to which the client appends its own parameters with "&".
package sas

import (
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
)

// Permissions is a blob SAS permission set.
type Permissions struct {
	Read, Create, Write, Delete bool
}

// String returns the permissions as in the SAS "sp" field, e.g. "cw".
func (p Permissions) String() string {
	return (&azsas.BlobPermissions{Read: p.Read, Create: p.Create, Write: p.Write, Delete: p.Delete}).String()
}

// PermissionsFor returns the least permissions that let the browser do
// method: create and write for a PUT, which goes to the uploader's own
// staging blob (overwriting one's own unverified upload harms nobody, and
// a rule's overwrite: false is enforced when the upload is promoted), and
// delete for DELETE. Never read.
func PermissionsFor(method authz.Method) (Permissions, error) {
	switch method {
	case authz.Put:
		return Permissions{Create: true, Write: true}, nil
	case authz.Delete:
		return Permissions{Delete: true}, nil
	}
	return Permissions{}, fmt.Errorf("sas: no permissions for method %q", method)
}

// Signer signs blob SAS URIs with an account's shared key.
type Signer struct {
	resolver *blobref.Resolver
	cred     *azblob.SharedKeyCredential
	protocol azsas.Protocol
}

// NewSharedKeySigner returns a Signer for blobs under resolver's endpoint.
// allowHTTP permits plain http, for an emulator on loopback only: Azure
// itself is always reached over https.
func NewSharedKeySigner(resolver *blobref.Resolver, cred *azblob.SharedKeyCredential, allowHTTP bool) (*Signer, error) {
	if resolver == nil || cred == nil {
		return nil, errors.New("sas: signer needs a resolver and a credential")
	}
	p := azsas.ProtocolHTTPS
	if allowHTTP {
		p = azsas.ProtocolHTTPSandHTTP
	}
	return &Signer{resolver: resolver, cred: cred, protocol: p}, nil
}

// Sign returns "<blob URL>?<SAS query>" granting perms on ref until expiry.
// The SAS has no start time, so a clock that runs behind Azure's cannot make
// it not yet valid.
func (s *Signer) Sign(ref blobref.Ref, perms Permissions, expiry time.Time) (string, error) {
	q, err := azsas.BlobSignatureValues{
		Protocol:      s.protocol,
		ExpiryTime:    expiry.UTC(),
		Permissions:   perms.String(),
		ContainerName: ref.Container,
		BlobName:      string(ref.Name),
	}.SignWithSharedKey(s.cred)
	if err != nil {
		return "", fmt.Errorf("sas: sign %s: %w", ref, err)
	}
	return s.resolver.URL(ref) + "?" + q.Encode(), nil
}
