// Package success verifies finished uploads and promotes them to their
// final names. Every upload lands first in the uploader's own blob in the
// private staging container (package staging); when Fine Uploader reports
// it finished, the check reads it, and what breaks its rule is deleted while
// what passes is copied server-side to its final name, with the verified
// type, a safe Content-Disposition and blobvalet's stamp, then announced to
// the application. Only blobvalet writes final names, so the stamp on a
// final blob is proof of who uploaded it.
package success

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/webhook"
)

// Metadata keys blobvalet writes on a verified blob. An uploader's own
// metadata with the blobvalet_ prefix is dropped at promotion.
const (
	MetaOwner      = "blobvalet_owner"
	MetaVerifiedAt = "blobvalet_verified_at"
	MetaEvent      = "blobvalet_event"
	metaPrefix     = "blobvalet_"
)

// Store is the blob storage the check needs (blobstore/azblob.Store
// on Azure). Its errors are blobstore's sentinels.
type Store interface {
	blobstore.Reader
	blobstore.Promoter
	blobstore.Deleter
}

// Request is a parsed upload-success request.
type Request struct {
	User authz.User
	// Blob is the final name the upload was signed for.
	Blob blobref.Ref
	// UUID and Name are Fine Uploader's file id and original file name.
	UUID, Name string
	// Params are the other form fields: uploadSuccess.params and the file's
	// request params.
	Params map[string]string
}

// Result is a verified upload.
type Result struct {
	Blob         string
	Size         int64
	ContentType  string
	ETag         string
	ThumbnailURL string
	Rule         string
	// EventID identifies the upload's event; it is the same on every repeat.
	EventID string
	// Repeat is true when the upload had been promoted by an earlier request.
	Repeat bool
}

// ThumbnailLifetime is how long a thumbnail's read-only SAS URL is valid.
const ThumbnailLifetime = time.Hour

// Thumbnail says what thumbnailUrl a rule's verified uploads get.
type Thumbnail struct {
	// None gives no thumbnail.
	None bool
	// Template, if set, is a URL with {container} and {blob} filled in.
	Template string
	// Otherwise a raster image gets a read-only SAS URL of itself.
}

// Actions are what a rule does with its verified uploads besides storing
// them: the thumbnail it answers and the webhook it tells.
type Actions struct {
	Thumbnail Thumbnail
	// Webhook is true when the rule has a webhook of its own: its events
	// go to target rule.Name instead of the global webhook.
	Webhook bool
}

// Outbox stores events durably until a deliverer has posted them to their
// webhook (events.Outbox). Once Enqueue returns nil the event is safe; on
// error it is not stored.
type Outbox interface {
	Enqueue(ctx context.Context, ev events.Event) error
}

// Checker verifies finished uploads.
type Checker struct {
	Store   Store
	Policy  *authz.Policy
	Staging staging.Area
	// Actions gives each of the policy's rules its actions, by rule name
	// (names are unique); a rule not in it gets a SAS thumbnail and the
	// global webhook, if any.
	Actions map[string]Actions
	// Outbox stores the event of each verified upload whose rule has a
	// webhook, or that the global webhook takes, before the upload is
	// reported verified. Nil stores none.
	Outbox Outbox
	// GlobalWebhook is true when a global webhook takes the events of
	// rules without a webhook of their own.
	GlobalWebhook bool
	// ReadURL signs a read-only URL of a blob until expiry, for thumbnails.
	ReadURL func(ref blobref.Ref, expiry time.Time) (string, error)
	Now     func() time.Time
	// Log receives what goes wrong after an answer is settled; nil logs nothing.
	Log *zap.Logger
	// BackgroundFailed counts a failure of work that no request waits for
	// (task "promotion": a copy that outlasted its request); nil counts
	// nothing.
	BackgroundFailed func(task string)
	// CompleteTimeout bounds the promotion of a verified upload and the
	// storing of its event, which go on when the request that started them
	// runs out of time; 0 means DefaultCompleteTimeout.
	CompleteTimeout time.Duration
	// DefaultMaxSize is the size limit of a rule without max_size; 0 means
	// DefaultMaxSize. No upload is ever without a limit.
	DefaultMaxSize int64
	// MaxCompleting caps the promotions running at once, those that outlast
	// their request included; a new one beyond it is answered busy. 0 means
	// DefaultMaxCompleting.
	MaxCompleting int

	// running counts the promotions under way, for MaxCompleting.
	running atomic.Int64
	// completing holds the completions running, by staging blob and ETag,
	// so that a retry waits for the one under way instead of copying again.
	completing sync.Map
}

// DefaultCompleteTimeout bounds a promotion that outlasts its request: time
// for a large file's server-side copy.
const DefaultCompleteTimeout = time.Hour

// completion is a promotion under way and, once done is closed, its outcome.
type completion struct {
	done chan struct{}
	res  Result
	err  error
}

// Check verifies the caller's staged upload for req.Blob and promotes it.
// It acts on the caller's own staging blob and nothing else; a final blob
// is only ever created or, where the rule allows overwriting, replaced. A
// repeated request for an upload already promoted for this user gives the
// same answer and event id. Errors are *errs.Error values whose kind and
// flags say what Fine Uploader should do.
func (c *Checker) Check(ctx context.Context, req Request) (Result, error) {
	const op = "success.check"
	d := c.Policy.Decide(authz.Request{User: req.User, Method: authz.Put, Blob: req.Blob})
	if !d.Allow {
		return Result{}, errs.Wrap(op, errs.Forbidden, "you may not upload to "+string(req.Blob.Name), fmt.Errorf("%s", d.Reason)).Final()
	}
	rule := d.Rule
	stg, err := c.Staging.Ref(req.User.ID, req.Blob)
	if err != nil {
		return Result{}, errs.Wrap(op, errs.Invalid, err.Error(), err).Final()
	}
	p, head, err := c.Store.Head(ctx, stg, sniffLen)
	if errors.Is(err, blobstore.ErrNotFound) {
		return c.promoted(ctx, req, rule)
	}
	if err != nil {
		return Result{}, unavailable(op, err)
	}
	verdict, v := c.verify(rule, req.Blob.Name, p, head)
	if v != nil {
		return Result{}, c.reject(ctx, stg, p, rule, v)
	}
	return c.complete(ctx, req, rule, stg, p, verdict)
}

// complete promotes a verified upload, removes its staging blob and stores
// its event. That work runs on its own deadline, detached from the request:
// when the request's budget ends first (a large file's copy, a slow
// storage), the caller gets a retryable answer while the work goes on, and
// its retry finds the upload promoted, or waits for the same completion.
// So no verified upload is left half done, and no event is lost because a
// browser stopped asking.
func (c *Checker) complete(ctx context.Context, req Request, rule *authz.Rule, stg blobref.Ref, p blobstore.Props, verdict Verdict) (Result, error) {
	key := stg.String() + "\x00" + p.ETag
	call := &completion{done: make(chan struct{})}
	if running, loaded := c.completing.LoadOrStore(key, call); loaded {
		call = running.(*completion)
	} else {
		if !c.startCompletion() {
			call.err = errs.E("success.check", errs.Busy, "the service is moving as many files as it can; retrying in a moment checks the upload")
			close(call.done)
			c.completing.Delete(key)
			return call.res, call.err
		}
		timeout := c.CompleteTimeout
		if timeout <= 0 {
			timeout = DefaultCompleteTimeout
		}
		go func() {
			defer c.running.Add(-1)
			defer c.completing.Delete(key)
			defer close(call.done)
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			defer cancel()
			call.res, call.err = c.promote(dctx, req, rule, stg, p, verdict)
			if call.err != nil && ctx.Err() != nil {
				c.detachedFailed(req, stg, call.err)
			}
		}()
	}
	select {
	case <-call.done:
		return call.res, call.err
	case <-ctx.Done():
		return Result{}, errs.E("success.check", errs.Timeout, "the file is still being moved into place; retrying answers when it is done")
	}
}

// promote copies a verified upload to its final name and finishes it.
func (c *Checker) promote(ctx context.Context, req Request, rule *authz.Rule, stg blobref.Ref, p blobstore.Props, verdict Verdict) (Result, error) {
	const op = "success.promote"
	eventID := EventID(req.Blob, p.ETag)
	verifiedAt := c.Now().UTC().Format(time.RFC3339)
	md := uploaderMetadata(p.Metadata, req.Blob.Name)
	md[MetaOwner] = EncodeOwner(req.User.ID)
	md[MetaVerifiedAt] = verifiedAt
	md[MetaEvent] = eventID
	if err := c.prepareEvent(req, rule, Result{Size: p.Size, ContentType: verdict.ContentType, Rule: rule.Name, EventID: eventID}, md); err != nil {
		// An upload whose event could not be stored is refused as a
		// whole: a verified file the application is never told of would
		// bypass whatever it does with events.
		if derr := c.discard(ctx, op, stg, p); derr != nil {
			return Result{}, derr
		}
		return Result{}, err
	}
	taken, err := c.exists(ctx, rule, req.Blob)
	if err != nil {
		return Result{}, unavailable(op, err)
	}
	var etag string
	if !taken {
		etag, err = c.Store.Promote(ctx, stg, p.ETag, p.Size, req.Blob, blobstore.Commit{
			ContentType:        verdict.ContentType,
			ContentDisposition: verdict.Disposition,
			Metadata:           md,
			CreateOnly:         !rule.Overwrite,
		})
	}
	switch {
	case errors.Is(err, blobstore.ErrChanged) || errors.Is(err, blobstore.ErrNotFound):
		return Result{}, changed(op)
	case taken || errors.Is(err, blobstore.ErrTaken):
		// Either an earlier attempt of this very upload was promoted and
		// could not remove its staging blob, or the name is taken.
		fp, ferr := c.Store.Properties(ctx, req.Blob)
		if ferr != nil || meta(fp.Metadata, MetaOwner) != EncodeOwner(req.User.ID) || meta(fp.Metadata, MetaEvent) != eventID {
			return Result{}, c.taken(ctx, stg, p, req.Blob)
		}
		etag, md = fp.ETag, fp.Metadata
	case err != nil:
		return Result{}, unavailable(op, err)
	}
	if err := c.Store.Delete(ctx, stg, blobstore.Condition{ETag: p.ETag}); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
		// The upload is verified and in place; the sweeper removes the rest.
		c.log().Warn("promoted upload's staging blob not removed", zap.String("staging_blob", string(stg.Name)), zap.Error(blobstore.Wrap(err)))
	}
	res := Result{Blob: string(req.Blob.Name), Size: p.Size, ContentType: verdict.ContentType, ETag: etag, Rule: rule.Name, EventID: eventID}
	return c.finish(ctx, req, rule, res, md)
}

// exists reports whether a rule that may not overwrite finds its final name
// taken, before anything is copied there: a copy would stage blocks on a
// blob that stays. The create-only commit still decides a race.
func (c *Checker) exists(ctx context.Context, rule *authz.Rule, final blobref.Ref) (bool, error) {
	if rule.Overwrite {
		return false, nil
	}
	_, err := c.Store.Properties(ctx, final)
	if errors.Is(err, blobstore.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// promoted answers a request whose staging blob is gone: a repeat of an
// upload already promoted for this user, or a request for an upload that
// never arrived or that is someone else's.
func (c *Checker) promoted(ctx context.Context, req Request, rule *authz.Rule) (Result, error) {
	const op = "success.check"
	fp, err := c.Store.Properties(ctx, req.Blob)
	if errors.Is(err, blobstore.ErrNotFound) {
		return Result{}, errs.E(op, errs.NotFound, "the file did not arrive in storage; it will be uploaded again").Restart()
	}
	if err != nil {
		return Result{}, unavailable(op, err)
	}
	eventID := meta(fp.Metadata, MetaEvent)
	if meta(fp.Metadata, MetaOwner) != EncodeOwner(req.User.ID) || eventID == "" {
		return Result{}, errs.E(op, errs.Forbidden, string(req.Blob.Name)+" is not an upload of yours").Final()
	}
	res := Result{Blob: string(req.Blob.Name), Size: fp.Size, ContentType: fp.ContentType, ETag: fp.ETag, Rule: rule.Name, EventID: eventID, Repeat: true}
	return c.finish(ctx, req, rule, res, fp.Metadata)
}

// finish makes the thumbnail and stores the event for the application.
// The answer is success only once the event is stored: the webhook is told
// later, from the queue, however the browser carries on. stamp is the final
// blob's metadata, from which the event is built as first reported.
func (c *Checker) finish(ctx context.Context, req Request, rule *authz.Rule, res Result, stamp map[string]string) (Result, error) {
	const op = "success.finish"
	var err error
	a := c.Actions[rule.Name]
	if res.ThumbnailURL, err = c.thumbnail(a.Thumbnail, req.Blob, res.ContentType); err != nil {
		return Result{}, errs.Wrap(op, errs.Internal, "", err)
	}
	ev, told, err := c.event(req, rule, res, stamp)
	if err != nil || !told {
		return res, err
	}
	err = c.Outbox.Enqueue(ctx, ev)
	switch {
	case errors.Is(err, events.ErrTooLarge):
		return Result{}, eventTooLarge(op, err)
	case err != nil:
		return Result{}, errs.Wrap(op, errs.Unavailable, "the application could not be told yet; retrying will tell it", err)
	}
	return res, nil
}

// etagRoom stands for the final blob's ETag, not known before the commit,
// when an event is checked before promotion: longer than any ETag Azure
// gives.
var etagRoom = strings.Repeat("0", 64)

// prepareEvent stamps md, the metadata a verified upload is about to be
// committed with, with what a repeat needs to re-send its event as first
// reported, and checks that event as it will be stored, so that an upload
// whose event cannot be stored is refused before anything is promoted.
func (c *Checker) prepareEvent(req Request, rule *authz.Rule, res Result, md map[string]string) error {
	if _, told := c.target(rule); !told {
		return nil
	}
	if err := stampEventFields(md, requestFields(req)); err != nil {
		return errs.Wrap("success.event", errs.Internal, "", err)
	}
	res.Blob, res.ETag = string(req.Blob.Name), etagRoom
	_, _, err := c.event(req, rule, res, md)
	return err
}

// event builds the event of a verified upload from its final blob's stamp
// (md): told is false when no webhook takes the rule's events.
//
// A repeated success request re-stores the event, because the first
// request may have promoted the upload and then failed to store it (the
// queue was down, the request ran out of time); but it must not let the
// repeat change what the application is told. So the fields the caller
// chooses (name, uuid, params) are kept on the final blob's stamp at
// promotion and every repeat sends those. Where they do not fit in the
// blob's 8 KiB of metadata, the stamp keeps their checksum instead, and a
// repeat must report the same fields (a browser's retry does): one that
// does not is refused and stores nothing, while the event stays what it
// first was, in the queue or for a faithful retry to store. A blob stamped
// by an earlier release has neither, and its repeat sends its own fields.
func (c *Checker) event(req Request, rule *authz.Rule, res Result, stamp map[string]string) (events.Event, bool, error) {
	const op = "success.event"
	target, told := c.target(rule)
	if !told {
		return events.Event{}, false, nil
	}
	f, err := stampedFields(req, stamp)
	if err != nil {
		return events.Event{}, true, err
	}
	body, err := json.Marshal(webhook.Payload{
		ID: res.EventID, User: req.User.ID, Container: req.Blob.Container, Blob: res.Blob,
		Name: f.Name, UUID: f.UUID, Size: res.Size, ContentType: res.ContentType,
		ETag: res.ETag, Params: f.Params, VerifiedAt: meta(stamp, MetaVerifiedAt),
	})
	if err != nil {
		return events.Event{}, true, errs.Wrap(op, errs.Internal, "", err)
	}
	ev := events.Event{ID: res.EventID, Target: target, Body: body}
	switch err := events.CheckEvent(ev); {
	case errors.Is(err, events.ErrTooLarge):
		return events.Event{}, true, eventTooLarge(op, err)
	case err != nil:
		return events.Event{}, true, errs.Wrap(op, errs.Internal, "", err)
	}
	return ev, true, nil
}

// stampedFields returns the fields of an upload's event as first reported
// (see Checker.event).
func stampedFields(req Request, stamp map[string]string) (eventFields, error) {
	const op = "success.event"
	f := requestFields(req)
	if sum := meta(stamp, MetaEventSum); sum != "" && !sameFields(f, sum) {
		return f, errs.E(op, errs.Exists, "this upload was reported before with another name, uuid or params; its event keeps those").Final()
	}
	return f, nil
}

// target names the webhook that takes rule's events: the rule's own, or
// the global one (""). told is false when none does, or no outbox stores
// events.
func (c *Checker) target(rule *authz.Rule) (target string, told bool) {
	switch {
	case c.Outbox == nil:
		return "", false
	case c.Actions[rule.Name].Webhook:
		return rule.Name, true
	}
	return "", c.GlobalWebhook
}

func eventTooLarge(op string, err error) error {
	return errs.Wrap(op, errs.TooLarge, "the upload's fields are too large for its event; send fewer or shorter params", err).Final()
}

// thumbnail returns the thumbnail URL of a verified blob, or "".
func (c *Checker) thumbnail(t Thumbnail, ref blobref.Ref, contentType string) (string, error) {
	switch {
	case t.None:
		return "", nil
	case t.Template != "":
		return ExpandTemplate(t.Template, ref), nil
	case !IsRasterImage(contentType) || c.ReadURL == nil:
		return "", nil
	}
	return c.ReadURL(ref, c.Now().Add(ThumbnailLifetime))
}

// detachedFailed logs and counts a promotion that failed after its
// request was answered: nobody else hears of it.
func (c *Checker) detachedFailed(req Request, stg blobref.Ref, err error) {
	fields := []zap.Field{zap.String("user", req.User.ID), zap.String("container", req.Blob.Container),
		zap.String("blob", string(req.Blob.Name)), zap.String("staging_blob", string(stg.Name)), zap.String("reason", errs.Clip(err.Error()))}
	switch errs.KindOf(err) {
	case errs.Internal, errs.Unavailable, errs.Timeout:
		if c.BackgroundFailed != nil {
			c.BackgroundFailed("promotion")
		}
		c.log().Error("promotion failed after its request was answered; a retry of the upload's success request tries again", fields...)
	default: // the upload changed, or its name is taken: the retry hears it
		c.log().Info("promotion ended after its request was answered", fields...)
	}
}

func (c *Checker) log() *zap.Logger {
	if c.Log == nil {
		return zap.NewNop()
	}
	return c.Log
}

// unavailable is the answer to a storage call that failed: retryable, with
// a message that is true for the caller, and the classified cause (status
// and error code in one line) for the log. Storage refusing blobvalet's
// credentials is the operator's to fix, so the caller hears only that the
// fault is on the server's side.
func unavailable(op string, err error) error {
	se := blobstore.Wrap(err)
	msg := "the file cannot be checked now because of a fault on the server's side; try again later"
	switch blobstore.Classify(err) {
	case blobstore.Throttled:
		msg = "storage is busy; try again"
	case blobstore.Unreachable:
		msg = "storage is not answering; try again"
	case blobstore.Slow:
		msg = "storage did not answer in time; try again"
	}
	return errs.Wrap(op, errs.Unavailable, msg, se)
}

func changed(op string) error {
	return errs.E(op, errs.Conflict, "the file changed in storage while it was being checked; retrying checks it again")
}

// reject deletes a staging blob that broke its rule, if it is still the
// blob that was checked, and returns the error for Fine Uploader.
func (c *Checker) reject(ctx context.Context, stg blobref.Ref, p blobstore.Props, rule *authz.Rule, v *RuleViolation) error {
	const op = "success.reject"
	if err := c.discard(ctx, op, stg, p); err != nil {
		return err
	}
	return errs.Wrap(op, errs.Rejected, v.Message, fmt.Errorf("rule %s: check %s failed", rule.Name, v.Check)).Final()
}

// taken deletes a staging blob whose final name exists and may not be
// replaced.
func (c *Checker) taken(ctx context.Context, stg blobref.Ref, p blobstore.Props, final blobref.Ref) error {
	const op = "success.promote"
	if err := c.discard(ctx, op, stg, p); err != nil {
		return err
	}
	return errs.E(op, errs.Exists, "a file named "+string(final.Name)+" already exists and may not be replaced").Final()
}

func (c *Checker) discard(ctx context.Context, op string, stg blobref.Ref, p blobstore.Props) error {
	err := c.Store.Delete(ctx, stg, blobstore.Condition{ETag: p.ETag})
	switch {
	case errors.Is(err, blobstore.ErrChanged):
		return changed(op)
	case err != nil && !errors.Is(err, blobstore.ErrNotFound):
		return errs.Wrap(op, errs.Unavailable, "the file could not be removed from storage; try again", blobstore.Wrap(err))
	}
	return nil
}

// EventID returns the id of the event for an upload to final whose staging
// blob had etag: the same on every repeat of that upload's success
// request, different for every other upload.
func EventID(final blobref.Ref, stagingETag string) string {
	h := sha256.New()
	for _, s := range []string{final.Container, string(final.Name), stagingETag} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "evt_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// uploaderMetadata returns the uploader's own metadata (Fine Uploader's
// qqfilename and the page's params) that is well formed (see
// keepMetadata), keys in lower case as Fine Uploader sends them, without
// anything in blobvalet's namespace.
func uploaderMetadata(md map[string]string, final blobref.Name) map[string]string {
	out := make(map[string]string, len(md)+3)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys) // which keys fit the budget does not depend on map order
	total := 0
	for _, k := range keys {
		v := md[k]
		k = strings.ToLower(k)
		if strings.HasPrefix(k, metaPrefix) || !keepMetadata(k, v, final) || total+len(k)+len(v) > MaxUploaderMetadata {
			continue
		}
		out[k] = v
		total += len(k) + len(v)
	}
	return out
}

func meta(md map[string]string, key string) string {
	for k, v := range md {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// ExpandTemplate fills a thumbnail URL template: {container} and {blob},
// the blob name path-escaped segment by segment.
func ExpandTemplate(tmpl string, ref blobref.Ref) string {
	return strings.NewReplacer("{container}", url.PathEscape(ref.Container), "{blob}", ref.Name.Escaped()).Replace(tmpl)
}
