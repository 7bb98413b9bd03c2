// Package traditional takes Fine Uploader's traditional uploads: the
// browser sends the file to blobvalet, whole or in chunks, and blobvalet
// streams each chunk into the uploader's staging blob as one uncommitted
// block, commits the blocks when the page says the file is complete, and
// hands the staging blob to the same verification and promotion as a
// direct upload (package success). It keeps nothing of its own: the
// staging blob's blocks, whose ids name the upload and the part, are the
// state of every upload in progress, which is also what makes resume work
// across restarts and replicas.
package traditional

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/success"
)

// Store is the blob storage the endpoint needs. It answers with the
// storage port's errors (blobstore.ErrNotFound, ErrChanged,
// blobstore.ErrBlockIDLength, …); test with errors.Is.
type Store interface {
	// StageBlock stores body, of the length its Seek(0, io.SeekEnd) tells,
	// as uncommitted block id of ref, replacing a block of that id. It
	// reads body once and never rewinds it.
	StageBlock(ctx context.Context, ref blobref.Ref, id string, body io.ReadSeekCloser) error
	// Blocks lists ref's blocks; blobstore.ErrNotFound when it has none.
	Blocks(ctx context.Context, ref blobref.Ref) (blobstore.BlockList, error)
	// CommitBlocks commits ref as the blocks ids, in order, with c's type
	// and metadata.
	CommitBlocks(ctx context.Context, ref blobref.Ref, ids []string, c blobstore.Commit) error
	// Find lists the committed blobs of container whose names begin with
	// prefix, with their metadata.
	Find(ctx context.Context, container, prefix string) ([]blobstore.Found, error)
	// Delete deletes ref if it still has etag ("" deletes whatever is
	// there): blobstore.ErrChanged if it has another, blobstore.ErrNotFound
	// if none.
	Delete(ctx context.Context, ref blobref.Ref, etag string) error
}

// Stager maps a final name to the uploader's staging blob (staging.Area).
type Stager interface {
	Ref(user string, final blobref.Ref) (blobref.Ref, error)
}

// Checker verifies a committed staging blob and promotes it
// (success.Checker).
type Checker interface {
	Check(ctx context.Context, req success.Request) (success.Result, error)
}

// Service takes the uploads.
type Service struct {
	Store   Store
	Policy  *authz.Policy
	Staging Stager
	Checker Checker
	// Container is the final container of an upload whose page does not
	// name one of the rules' containers in its param "container".
	Container string
	// Name makes each upload's final name.
	Name Template
	// MaxChunk is the largest request body: a chunk, or a file sent whole.
	MaxChunk int64
	// DefaultMaxSize is the size limit of a rule without max_size
	// (success.Checker.DefaultMaxSize).
	DefaultMaxSize int64
	// Slots caps the uploads in flight.
	Slots *Slots
	// CheckTimeout bounds the check of a file sent whole, which starts
	// once its last byte is stored; 0 means none.
	CheckTimeout time.Duration
	// Hook, if set, is called with each part after its fields are checked
	// and before a byte of it is stored; an error fails the part. Tests
	// use it to fail or hold parts.
	Hook func(ctx context.Context, p Part) error
}

// Take takes a slot for one of user's requests (Slots.Take).
func (s *Service) Take(user string) (release func(), err error) { return s.Slots.Take(user) }

// ChunkLimit returns MaxChunk.
func (s *Service) ChunkLimit() int64 { return s.MaxChunk }

// target decides the final name of user's upload and returns it with its
// staging blob and the rule that allows it.
func (s *Service) target(op string, user authz.User, u UUID, fileName string, params map[string]string) (final, stg blobref.Ref, rule *authz.Rule, err error) {
	c, err := s.container(op, params)
	if err != nil {
		return final, stg, nil, err
	}
	name, err := s.Name.Name(user.ID, u, fileName)
	if err != nil {
		e := errs.Wrap(op, errs.Invalid, "the upload's name is not a valid blob name", err)
		e.PreventRetry = true
		return final, stg, nil, e
	}
	final = blobref.Ref{Container: c, Name: name}
	d := s.Policy.Decide(authz.Request{User: user, Method: authz.Put, Blob: final})
	if !d.Allow {
		e := errs.E(op, errs.Forbidden, "you may not upload to "+string(name))
		e.Err = fmt.Errorf("%s", d.Reason)
		e.PreventRetry = true
		return final, stg, nil, e
	}
	stg, err = s.Staging.Ref(user.ID, final)
	if err != nil {
		e := errs.Wrap(op, errs.Invalid, err.Error(), err)
		e.PreventRetry = true
		return final, stg, nil, e
	}
	return final, stg, d.Rule, nil
}

// ContainerParam is the page param that chooses the final container.
const ContainerParam = "container"

// container returns the final container the page's params choose: one the
// rules name, or Container by default.
func (s *Service) container(op string, params map[string]string) (string, error) {
	c, ok := params[ContainerParam]
	if !ok || c == "" {
		return s.Container, nil
	}
	if !slices.Contains(s.Policy.Containers(), c) {
		e := errs.E(op, errs.Forbidden, "the container param names no container this service uploads to")
		e.PreventRetry = true
		return "", e
	}
	return c, nil
}

// refuse checks what the rule can refuse before a byte is stored: the
// file's size and its name's ending. The check after the upload still
// decides on the stored bytes.
func (s *Service) refuse(op string, rule *authz.Rule, final blobref.Name, fileSize int64) error {
	limit := rule.Constraints.MaxSize
	if limit <= 0 {
		limit = s.DefaultMaxSize
	}
	if limit > 0 && fileSize > limit {
		e := errs.E(op, errs.TooLarge, fmt.Sprintf("the file has %d bytes; the limit is %d", fileSize, limit))
		e.PreventRetry = true
		return e
	}
	if !rule.Constraints.AllowsName(string(final)) {
		e := errs.E(op, errs.Rejected, "this kind of file may not be uploaded here (its name's ending is not allowed)")
		e.PreventRetry = true
		return e
	}
	return nil
}

// Upload stores one part read from body. A chunk answers nil once its
// block is stored; a whole file is committed and checked at once, and its
// result returned.
func (s *Service) Upload(ctx context.Context, user authz.User, p Part, body io.Reader) (*success.Result, error) {
	const op = "upload"
	final, stg, rule, err := s.target(op, user, p.UUID, p.FileName, p.Params)
	if err != nil {
		return nil, err
	}
	if err := s.refuse(op, rule, final.Name, p.FileSize); err != nil {
		return nil, err
	}
	// A resumed part (qqresume) is stored like any other, even when the
	// earlier parts are gone (swept after staging.max_age): completion
	// finds them missing and answers reset, and the client starts over.
	// A reset on the part itself would be sooner, but Fine Uploader 5.16.2
	// with concurrent chunks fails on it with a TypeError in its failure
	// handler (its in-progress list is gone after the reset) and the file
	// then hangs, neither failed nor retried.
	if s.Hook != nil {
		if err := s.Hook(ctx, p); err != nil {
			return nil, err
		}
	}
	if p.Size > 0 {
		if err := s.stage(ctx, stg, p, body); err != nil {
			return nil, err
		}
	}
	if p.Chunked {
		return nil, nil
	}
	ids := []string{}
	if p.Size > 0 {
		ids = append(ids, BlockID(p.UUID, 0))
	}
	if err := s.commit(ctx, stg, ids, p.FileName, p.ContentType, final.Name, p.UUID, p.Params); err != nil {
		return nil, err
	}
	if s.CheckTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.CheckTimeout)
		defer cancel()
	}
	res, err := s.Checker.Check(ctx, success.Request{User: user, Blob: final, UUID: p.UUID.String(), Name: p.FileName, Params: p.Params})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

func reset(op, msg string) error {
	e := errs.E(op, errs.Conflict, msg)
	e.Reset = true
	return e
}

// stage streams one part into its block.
func (s *Service) stage(ctx context.Context, stg blobref.Ref, p Part, body io.Reader) error {
	const op = "upload.stage"
	src := newOneShot(body, p.Size)
	err := s.Store.StageBlock(ctx, stg, BlockID(p.UUID, p.Index), src)
	switch {
	case err == nil && src.read != p.Size:
		// A store that did not read the whole part stored no part.
		return errs.E(op, errs.Internal, "")
	case err == nil:
		return nil
	case errors.Is(src.Err(), ErrShortPart), errors.Is(src.Err(), ErrLongPart):
		return errs.Wrap(op, errs.Invalid, "the chunk's size is not the announced qqchunksize; send it again", src.Err())
	case src.Err() != nil:
		return errs.Wrap(op, errs.Invalid, "the chunk did not arrive whole; send it again", src.Err())
	case errors.Is(err, blobstore.ErrBlockIDLength):
		// Blocks of another client's upload to this name: it is abandoned
		// (this user's own), so start over without it.
		if derr := s.Store.Delete(ctx, stg, ""); derr != nil && !errors.Is(derr, blobstore.ErrNotFound) {
			return unavailable(op, derr)
		}
		return reset(op, "an earlier upload to this name was in the way; starting over")
	case ctx.Err() != nil:
		return errs.Wrap(op, errs.Timeout, "the chunk was not stored in time; send it again", err)
	}
	return unavailable(op, err)
}

// Complete commits a chunked upload's parts and checks it.
func (s *Service) Complete(ctx context.Context, user authz.User, d Done) (success.Result, error) {
	const op = "upload.done"
	final, stg, rule, err := s.target(op, user, d.UUID, d.FileName, d.Params)
	if err != nil {
		return success.Result{}, err
	}
	if err := s.refuse(op, rule, final.Name, d.FileSize); err != nil {
		return success.Result{}, err
	}
	req := success.Request{User: user, Blob: final, UUID: d.UUID.String(), Name: d.FileName, Params: d.Params}
	bl, err := s.Store.Blocks(ctx, stg)
	if errors.Is(err, blobstore.ErrNotFound) {
		// Promoted by an earlier request, or never here: the check tells.
		return s.Checker.Check(ctx, req)
	}
	if err != nil {
		return success.Result{}, unavailable(op, err)
	}
	ids := make([]string, d.Total)
	for i := range ids {
		ids[i] = BlockID(d.UUID, i)
	}
	committed := make([]string, len(bl.Committed))
	for i, b := range bl.Committed {
		committed[i] = b.ID
	}
	if !slices.Equal(committed, ids) || hasPartOf(d.UUID, bl.Uncommitted) {
		if err := checkParts(d, bl.Uncommitted); err != nil {
			return success.Result{}, err
		}
		if err := s.commit(ctx, stg, ids, d.FileName, "", final.Name, d.UUID, d.Params); err != nil {
			return success.Result{}, err
		}
	}
	return s.Checker.Check(ctx, req)
}

func hasPartOf(u UUID, blocks []blobstore.Block) bool {
	for _, b := range blocks {
		if _, ok := partOf(u, b.ID); ok {
			return true
		}
	}
	return false
}

// checkParts checks that the uncommitted blocks hold every part of d, and
// that their sizes add up as Fine Uploader cuts a file: every part the
// size of the first but the last, which is not larger.
func checkParts(d Done, blocks []blobstore.Block) error {
	const op = "upload.done"
	sizes := make([]int64, d.Total)
	for _, b := range blocks {
		if i, ok := partOf(d.UUID, b.ID); ok && i < d.Total {
			sizes[i] = b.Size
		}
	}
	var sum int64
	for i, n := range sizes {
		switch {
		case n == 0:
			return reset(op, fmt.Sprintf("part %d is missing; starting over", i))
		case i < d.Total-1 && n != sizes[0], i == d.Total-1 && n > sizes[0]:
			return reset(op, fmt.Sprintf("part %d has %d bytes, which does not fit the others; starting over", i, n))
		}
		sum += n
	}
	if sum != d.FileSize {
		return reset(op, fmt.Sprintf("the parts hold %d bytes, not qqtotalfilesize %d; starting over", sum, d.FileSize))
	}
	return nil
}

// commit commits the staging blob with the file's declared type (the
// extension's when the browser did not say) and Fine Uploader's metadata,
// as Fine Uploader Azure would have set it.
func (s *Service) commit(ctx context.Context, stg blobref.Ref, ids []string, fileName, contentType string, final blobref.Name, u UUID, params map[string]string) error {
	if contentType == "" {
		contentType = mime.TypeByExtension(Ext(string(final)))
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	md := map[string]string{}
	for k, v := range params {
		if isIdentifier(k) && !strings.HasPrefix(strings.ToLower(k), "blobvalet_") {
			md[strings.ToLower(k)] = url.PathEscape(v)
		}
	}
	md["qqfilename"] = url.PathEscape(fileName)
	md["qquuid"] = u.String()
	if err := s.Store.CommitBlocks(ctx, stg, ids, blobstore.Commit{ContentType: contentType, Metadata: md}); err != nil {
		if errors.Is(err, blobstore.ErrNotFound) {
			return reset("upload.commit", "the parts of this upload are gone; starting over")
		}
		return unavailable("upload.commit", err)
	}
	return nil
}

// isIdentifier reports whether s may be a metadata name: an ASCII C#
// identifier of at most 64 characters.
func isIdentifier(s string) bool {
	if s == "" || len(s) > success.MaxMetadataNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Delete deletes user's promoted upload u: the blob at the upload's name
// whose stamp says user uploaded it, if a rule lets them delete it. params
// are deleteFile.params: the container, where the page chose one.
func (s *Service) Delete(ctx context.Context, user authz.User, u UUID, params map[string]string) error {
	const op = "upload.delete"
	c, err := s.container(op, params)
	if err != nil {
		return err
	}
	blobs, err := s.Store.Find(ctx, c, s.Name.Prefix(user.ID, u))
	if err != nil {
		return unavailable(op, err)
	}
	for _, b := range blobs {
		if meta(b.Metadata, "qquuid") != u.String() || !success.StampedBy(b.Metadata, user.ID) {
			continue
		}
		ref := blobref.Ref{Container: c, Name: b.Name}
		if d := s.Policy.Decide(authz.Request{User: user, Method: authz.Delete, Blob: ref}); !d.Allow {
			e := errs.E(op, errs.Forbidden, "you may not delete "+string(b.Name))
			e.Err = fmt.Errorf("%s", d.Reason)
			e.PreventRetry = true
			return e
		}
		err := s.Store.Delete(ctx, ref, b.ETag)
		switch {
		case errors.Is(err, blobstore.ErrChanged):
			return errs.E(op, errs.Conflict, "the file changed while it was being deleted; try again")
		case errors.Is(err, blobstore.ErrNotFound):
			continue
		case err != nil:
			return unavailable(op, err)
		}
		return nil
	}
	return errs.E(op, errs.NotFound, "no upload of yours has this uuid")
}

func meta(md map[string]string, key string) string {
	for k, v := range md {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// unavailable is the answer to a storage call that failed: retryable. The
// store's error, classified by the store, goes to the log.
func unavailable(op string, err error) error {
	msg := "storage failed; try again"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "storage did not answer in time; try again"
	}
	return errs.Wrap(op, errs.Unavailable, msg, err)
}
