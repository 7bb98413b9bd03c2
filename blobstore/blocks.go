package blobstore

import (
	"errors"

	"github.com/blobvalet/blobvalet/blobref"
)

// What storage holds of uploads sent through blobvalet in blocks (package
// traditional): the blocks of a blob, committed or not, and the blobs
// found by a name's beginning.

// ErrBlockIDLength means the blob holds uncommitted blocks whose ids have
// another length than the one staged (another client's upload to the same
// name); a blob's block ids must all have one length.
var ErrBlockIDLength = errors.New("the blob holds blocks with ids of another length")

// Block is one block of a blob.
type Block struct {
	ID   string
	Size int64
}

// BlockList is what a blob holds: its committed blocks, in order, and its
// uncommitted ones.
type BlockList struct {
	Committed, Uncommitted []Block
}

// Found is a committed blob found by the beginning of its name.
type Found struct {
	Name     blobref.Name
	ETag     string
	Metadata map[string]string
}
