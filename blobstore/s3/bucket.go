package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/blobvalet/blobvalet/blobstore"
)

// CheckBucket asks whether bucket exists and the client may use it
// (HeadBucket): blobstore.ErrNotFound if it does not exist, ErrRefused if
// the credential may not.
func (s Store) CheckBucket(ctx context.Context, bucket string) error {
	_, err := s.Client.HeadBucket(ctx, &s3sdk.HeadBucketInput{Bucket: aws.String(bucket)})
	return Wrap(err)
}

// Exposure is how far a bucket may be read by others, as far as S3's API
// tells.
type Exposure struct {
	// Public lists why the bucket is public: its policy, or an ACL grant
	// to everyone or to every AWS account. Empty when neither is found.
	Public []string
	// Notes list what could not be told, and Block Public Access settings
	// that are off: advice, not proof of exposure.
	Notes []string
}

// Groups that an ACL grant makes public.
const (
	allUsers           = "http://acs.amazonaws.com/groups/global/AllUsers"
	authenticatedUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

// BucketExposure asks whether bucket is public: its policy status
// (GetBucketPolicyStatus), its ACL (GetBucketAcl) and its Block Public
// Access settings (GetPublicAccessBlock). What the service does not
// implement, or the credential may not ask, is noted rather than failed:
// services differ in which of these they have. An error means storage
// could not be asked at all.
func (s Store) BucketExposure(ctx context.Context, bucket string) (Exposure, error) {
	var ex Exposure
	unknown := func(what string, err error) error {
		switch blobstore.Classify(err) {
		case blobstore.Unreachable, blobstore.Slow, blobstore.Throttled, blobstore.NotFound:
			return fmt.Errorf("bucket %s: %s: %w", bucket, what, err)
		case blobstore.Refused:
			ex.Notes = append(ex.Notes, fmt.Sprintf("%s: refused (%s); allow the service credential s3:%s to have it checked", what, describe(err), strings.Fields(what)[0]))
		default:
			ex.Notes = append(ex.Notes, fmt.Sprintf("%s: not told (%s)", what, describe(err)))
		}
		return nil
	}

	status, err := s.Client.GetBucketPolicyStatus(ctx, &s3sdk.GetBucketPolicyStatusInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		if status.PolicyStatus != nil && aws.ToBool(status.PolicyStatus.IsPublic) {
			ex.Public = append(ex.Public, "its bucket policy grants access to anyone")
		}
	case codeOf(err) == "NoSuchBucketPolicy":
	default:
		if err := unknown("GetBucketPolicyStatus", Wrap(err)); err != nil {
			return ex, err
		}
	}

	acl, err := s.Client.GetBucketAcl(ctx, &s3sdk.GetBucketAclInput{Bucket: aws.String(bucket)})
	if err != nil {
		if err := unknown("GetBucketAcl", Wrap(err)); err != nil {
			return ex, err
		}
	} else {
		for _, g := range acl.Grants {
			if g.Grantee == nil || g.Grantee.Type != types.TypeGroup {
				continue
			}
			switch aws.ToString(g.Grantee.URI) {
			case allUsers:
				ex.Public = append(ex.Public, fmt.Sprintf("its ACL grants %s to everyone (AllUsers)", g.Permission))
			case authenticatedUsers:
				ex.Public = append(ex.Public, fmt.Sprintf("its ACL grants %s to every AWS account (AuthenticatedUsers)", g.Permission))
			}
		}
	}

	block, err := s.Client.GetPublicAccessBlock(ctx, &s3sdk.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		if c := block.PublicAccessBlockConfiguration; c == nil || !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.IgnorePublicAcls) ||
			!aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.RestrictPublicBuckets) {
			ex.Notes = append(ex.Notes, "Block Public Access is not fully on: turn on all four settings")
		}
	case codeOf(err) == "NoSuchPublicAccessBlockConfiguration":
		ex.Notes = append(ex.Notes, "Block Public Access is not set on the bucket: turn on all four settings")
	default:
		if err := unknown("GetPublicAccessBlock", Wrap(err)); err != nil {
			return ex, err
		}
	}
	return ex, nil
}

// codeOf is S3's error code in err, or "".
func codeOf(err error) string {
	var e *blobstore.Error
	if errors.As(Wrap(err), &e) {
		return e.Code
	}
	return ""
}
