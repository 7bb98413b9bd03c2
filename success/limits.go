package success

import (
	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// BlockBlob is the only blob type accepted in staging. A page blob declares
// its size (up to 8 TiB) without its bytes being uploaded, and an append
// blob is not what Fine Uploader makes: copying either would store bytes
// nobody sent.
const BlockBlob = "BlockBlob"

// DefaultMaxSize is the limit of a rule without max_size when
// Checker.DefaultMaxSize is not set: 5 GiB, about the largest file a browser
// upload is used for, the size Azure copies in one Put Blob From URL, and a
// copy that ends well inside DefaultCompleteTimeout even at 10 MB/s. A rule
// that needs more says so with max_size.
const DefaultMaxSize = 5 << 30

// DefaultMaxCompleting caps the promotions running at once when
// Checker.MaxCompleting is not set.
const DefaultMaxCompleting = 64

// verify checks a staged blob's type, then the content against the rule,
// with the default size limit for a rule that sets none.
func (c *Checker) verify(rule *authz.Rule, name blobref.Name, p blobstore.Props, head []byte) (Verdict, *RuleViolation) {
	if p.BlobType != BlockBlob {
		return Verdict{}, &RuleViolation{"blob_type", "only block blobs are accepted; upload the file as a block blob (x-ms-blob-type: BlockBlob)"}
	}
	cons := rule.Constraints
	if cons.MaxSize <= 0 {
		cons.MaxSize = c.DefaultMaxSize
		if cons.MaxSize <= 0 {
			cons.MaxSize = DefaultMaxSize
		}
	}
	return Verify(cons, name, p, head)
}

// startCompletion takes one of the MaxCompleting places for a promotion;
// false means all are taken. A promotion keeps its place until it ends,
// after its request when it outlasts it.
func (c *Checker) startCompletion() bool {
	limit := int64(c.MaxCompleting)
	if limit <= 0 {
		limit = DefaultMaxCompleting
	}
	if c.running.Add(1) > limit {
		c.running.Add(-1)
		return false
	}
	return true
}
