// Package blobstore is the port through which blobvalet uses blob storage:
// the few things its domain does to blobs, named for what they do rather
// than for a storage service's API, and the errors storage answers with,
// as sentinels a caller tests with errors.Is. Package blobstore/azblob
// implements it on Azure Blob Storage; tests use hand-written fakes.
//
// Every interface is small, so that a consumer asks for only what it uses:
// the upload-success check reads, promotes and deletes; signing asks
// whether an upload is in progress; the sweeper lists, deletes and locks.
package blobstore

import (
	"context"
	"time"

	"github.com/blobvalet/blobvalet/blobref"
)

// Props are the stored properties of a blob.
type Props struct {
	Size            int64
	ContentType     string
	ContentEncoding string
	ETag            string
	// BlobType is BlockBlob, PageBlob or AppendBlob.
	BlobType string
	// Metadata as stored; keys may come back in another case.
	Metadata map[string]string
}

// Commit is how a promoted blob is written.
type Commit struct {
	ContentType        string
	ContentDisposition string
	Metadata           map[string]string
	// CreateOnly refuses to replace a blob that exists (ErrTaken).
	CreateOnly bool
}

// Condition is what a blob must still be for a change to apply; a change
// to a blob that no longer meets it fails with ErrChanged. The zero
// Condition holds for any blob.
type Condition struct {
	// ETag, if set, is the ETag the blob must still have.
	ETag string
	// UnmodifiedSince, if set, is a time since which the blob must not
	// have been written. A blob that holds only uncommitted blocks has no
	// ETag to match, but it has a time.
	UnmodifiedSince time.Time
}

// Item is a blob found by a listing.
type Item struct {
	Name blobref.Name
	// Size is the committed size: 0 for a blob that holds only
	// uncommitted blocks.
	Size         int64
	LastModified time.Time
}

// Reader reads blobs.
type Reader interface {
	// Head returns a blob's properties and up to n of its first bytes, as
	// stored (never decoded), in one round trip.
	Head(ctx context.Context, ref blobref.Ref, n int64) (Props, []byte, error)
	// Properties returns a blob's properties.
	Properties(ctx context.Context, ref blobref.Ref) (Props, error)
}

// Promoter moves a verified upload to its final name.
type Promoter interface {
	// Promote copies src, as long as it still has srcETag (else
	// ErrChanged), to dst inside storage and commits it with c's headers,
	// metadata and condition in one step (ErrTaken when c.CreateOnly finds
	// a blob). It returns dst's new ETag.
	Promote(ctx context.Context, src blobref.Ref, srcETag string, size int64, dst blobref.Ref, c Commit) (etag string, err error)
}

// Deleter deletes blobs.
type Deleter interface {
	// Delete deletes a blob that meets cond, with its snapshots, breaking
	// a lease on it first: an uploader's write access lets them snapshot
	// and lease their own staging blob, and neither may keep blobvalet
	// from removing it. ErrNotFound when there is none, ErrChanged when it
	// does not meet cond.
	Delete(ctx context.Context, ref blobref.Ref, cond Condition) error
}

// Prober tells whether an upload is under way.
type Prober interface {
	// InProgress reports whether a blob exists, committed or holding only
	// uncommitted blocks (an upload in blocks under way, which Properties
	// reports as not found).
	InProgress(ctx context.Context, ref blobref.Ref) (bool, error)
}

// Lister lists a container.
type Lister interface {
	// List calls fn with every blob in container, those holding only
	// uncommitted blocks included, until fn returns an error, which List
	// returns.
	List(ctx context.Context, container string, fn func(Item) error) error
}

// Locker takes a lock that one process at a time may hold.
type Locker interface {
	// Lock takes the lock named by ref and keeps it until release is
	// called or ctx ends; ErrTaken while another holds it. The returned
	// context ends, with the cause, when the lock is lost.
	Lock(ctx context.Context, ref blobref.Ref) (release func(), lost context.Context, err error)
}

// Access is what a signed URL lets its holder do to one blob.
type Access int

// The accesses a signer grants.
const (
	// Upload writes the blob, whole or in blocks.
	Upload Access = iota + 1
	// Delete deletes it.
	Delete
	// Read reads it.
	Read
)

// String returns the access as log lines name it, by the letter of
// permission sets: "w", "d" or "r".
func (a Access) String() string {
	switch a {
	case Upload:
		return "w"
	case Delete:
		return "d"
	case Read:
		return "r"
	}
	return ""
}
