// Package success verifies finished uploads. An Azure SAS cannot limit a
// blob's size or type, and the browser chooses the name, so when Fine
// Uploader reports a finished upload, the blob is checked against the rule
// that allowed it: what breaks the rule is deleted, what passes is stamped
// with its verified owner and announced to the application.
package success

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/errs"
)

// Metadata keys blobvalet writes on a verified blob.
const (
	MetaOwner      = "blobvalet_owner"
	MetaVerifiedAt = "blobvalet_verified_at"
)

// sniffLen is how much of a blob is read to sniff its type.
const sniffLen = 512

// Props are the stored properties of a blob.
type Props struct {
	Size        int64
	ContentType string
	ETag        string
	// Metadata as stored; keys may come back in another case.
	Metadata map[string]string
}

// Store is the blob storage the check needs.
type Store interface {
	// Properties returns a blob's properties, or an error for which
	// IsNotFound is true.
	Properties(ctx context.Context, ref blobref.Ref) (Props, error)
	// Head returns up to n first bytes of the blob at etag.
	Head(ctx context.Context, ref blobref.Ref, etag string, n int64) ([]byte, error)
	// Delete deletes the blob only if it still has etag.
	Delete(ctx context.Context, ref blobref.Ref, etag string) error
	// SetMetadata replaces the metadata only if the blob still has etag, and
	// returns the new ETag.
	SetMetadata(ctx context.Context, ref blobref.Ref, md map[string]string, etag string) (string, error)
	// IsNotFound reports whether err means the blob does not exist.
	IsNotFound(err error) bool
	// IsChanged reports whether err means the blob no longer has the ETag.
	IsChanged(err error) bool
}

// Request is a parsed upload-success request.
type Request struct {
	User authz.User
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
}

// Thumbnailer makes the thumbnail URL for a verified blob, or "".
type Thumbnailer func(rule *authz.Rule, ref blobref.Ref, contentType string) (string, error)

// Checker verifies finished uploads.
type Checker struct {
	Store    Store
	Policy   *authz.Policy
	Thumbs   Thumbnailer
	Notifier *Notifier
	// Hooks gives per-rule notifiers by rule name; a missing rule uses Notifier.
	Hooks map[string]*Notifier
	Now   func() time.Time
}

// Check verifies one finished upload. Errors are *errs.Error values whose
// kind and flags say what Fine Uploader should do.
func (c *Checker) Check(ctx context.Context, req Request) (Result, error) {
	const op = "success.check"
	d := c.Policy.Decide(authz.Request{User: req.User, Method: authz.Put, Blob: req.Blob})
	if !d.Allow {
		e := errs.E(op, errs.Forbidden, "you may not upload to "+string(req.Blob.Name))
		e.Err = fmt.Errorf("%s", d.Reason)
		e.PreventRetry = true
		return Result{}, e
	}
	rule := d.Rule
	p, err := c.Store.Properties(ctx, req.Blob)
	if c.Store.IsNotFound(err) {
		e := errs.E(op, errs.NotFound, "the file did not arrive in storage; it will be uploaded again")
		e.Reset = true
		return Result{}, e
	}
	if err != nil {
		return Result{}, errs.Wrap(op, errs.Unavailable, "storage is not answering; try again", err)
	}
	contentType := p.ContentType
	// Every request is checked in full: the uploader can set any x-ms-meta-*
	// header, so a stamp already on the blob proves nothing.
	head, err := c.Store.Head(ctx, req.Blob, p.ETag, sniffLen)
	if c.Store.IsChanged(err) || c.Store.IsNotFound(err) {
		return Result{}, changed(op)
	}
	if err != nil {
		return Result{}, errs.Wrap(op, errs.Unavailable, "storage is not answering; try again", err)
	}
	if v := Violation(rule.Constraints, req.Blob.Name, p, head); v != nil {
		return Result{}, c.reject(ctx, req, p, rule, v)
	}
	if contentType == "" {
		contentType = mediaType(http.DetectContentType(head))
	}
	md := make(map[string]string, len(p.Metadata)+2)
	for k, v := range p.Metadata {
		if !strings.EqualFold(k, MetaOwner) && !strings.EqualFold(k, MetaVerifiedAt) {
			md[k] = v
		}
	}
	md[MetaOwner] = req.User.ID
	md[MetaVerifiedAt] = c.Now().UTC().Format(time.RFC3339)
	etag, err := c.Store.SetMetadata(ctx, req.Blob, md, p.ETag)
	if c.Store.IsChanged(err) || c.Store.IsNotFound(err) {
		return Result{}, changed(op)
	}
	if err != nil {
		return Result{}, errs.Wrap(op, errs.Unavailable, "storage is not answering; try again", err)
	}
	p.ETag, p.Metadata = etag, md
	res := Result{Blob: string(req.Blob.Name), Size: p.Size, ContentType: contentType, ETag: p.ETag, Rule: rule.Name}
	if c.Thumbs != nil {
		if res.ThumbnailURL, err = c.Thumbs(rule, req.Blob, contentType); err != nil {
			return Result{}, errs.Wrap(op, errs.Internal, "", err)
		}
	}
	n := c.Notifier
	if h, ok := c.Hooks[rule.Name]; ok {
		n = h
	}
	if n != nil {
		ev := Event{
			User: req.User.ID, Container: req.Blob.Container, Blob: string(req.Blob.Name),
			Name: req.Name, UUID: req.UUID, Size: p.Size, ContentType: contentType,
			ETag: p.ETag, Params: req.Params, VerifiedAt: meta(p.Metadata, MetaVerifiedAt),
		}
		if err := n.Notify(ctx, ev); err != nil {
			return Result{}, errs.Wrap(op, errs.BadGateway, "the application was not told of the upload; retrying will tell it", err)
		}
	}
	return res, nil
}

func changed(op string) error {
	return errs.E(op, errs.Conflict, "the file changed in storage while it was being checked; retrying checks it again")
}

// reject deletes a blob that broke its rule, if it is still the blob that
// was checked, and returns the error for Fine Uploader.
func (c *Checker) reject(ctx context.Context, req Request, p Props, rule *authz.Rule, v *RuleViolation) error {
	const op = "success.reject"
	err := c.Store.Delete(ctx, req.Blob, p.ETag)
	switch {
	case c.Store.IsChanged(err):
		return changed(op)
	case err != nil && !c.Store.IsNotFound(err):
		return errs.Wrap(op, errs.Unavailable, "the file breaks a rule but could not be removed; try again", err)
	}
	e := errs.E(op, errs.Rejected, v.Message)
	e.Err = fmt.Errorf("rule %s: check %s failed", rule.Name, v.Check)
	e.PreventRetry = true
	return e
}

// RuleViolation says which check a blob failed, in words for its uploader.
type RuleViolation struct {
	// Check is max_size, content_types or extensions.
	Check   string
	Message string
}

// Violation checks a blob against a rule's constraints: its stored size,
// its name's ending, its declared content type and the type sniffed from its
// first bytes. It returns nil when the blob passes.
//
// The declared type is checked when the browser sent one (Fine Uploader
// sends none for files the browser has no type for). The sniffed type must
// be allowed too, so that HTML named .jpg is caught; when the sniffer cannot
// tell (application/octet-stream), the declared type must be present and
// allowed.
func Violation(c authz.Constraints, name blobref.Name, p Props, head []byte) *RuleViolation {
	if c.MaxSize > 0 && p.Size > c.MaxSize {
		return &RuleViolation{"max_size", fmt.Sprintf("file is %s; the limit is %s", decimalSize(p.Size), config.FormatSize(c.MaxSize))}
	}
	if !c.AllowsName(string(name)) {
		return &RuleViolation{"extensions", "file name must end in " + orList(c.Extensions)}
	}
	if len(c.ContentTypes) == 0 {
		return nil
	}
	allowed := strings.Join(c.ContentTypes, ", ")
	if p.ContentType != "" && !c.AllowsContentType(p.ContentType) {
		return &RuleViolation{"content_types", fmt.Sprintf("file type %s is not allowed (allowed: %s)", mediaType(p.ContentType), allowed)}
	}
	sniffed := mediaType(http.DetectContentType(head))
	if sniffed == "application/octet-stream" {
		if p.ContentType == "" {
			return &RuleViolation{"content_types", fmt.Sprintf("file type is unknown (allowed: %s)", allowed)}
		}
		return nil
	}
	if !c.AllowsContentType(sniffed) {
		return &RuleViolation{"content_types", fmt.Sprintf("file content is %s, not an allowed type (allowed: %s)", sniffed, allowed)}
	}
	return nil
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func orList(l []string) string {
	if len(l) <= 1 {
		return strings.Join(l, "")
	}
	return strings.Join(l[:len(l)-1], ", ") + " or " + l[len(l)-1]
}

// decimalSize formats a file's size as people see it in file managers.
func decimalSize(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
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
