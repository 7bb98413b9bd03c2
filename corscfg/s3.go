package corscfg

import (
	"context"
	"errors"
	"fmt"

	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/errs"
)

// GetS3 reads the CORS rules of an S3 bucket.
func GetS3(ctx context.Context, store s3.Store, bucket string) ([]Rule, error) {
	got, err := store.CORS(ctx, bucket)
	if err != nil {
		return nil, s3Error("read the CORS rules of bucket "+bucket, "s3:GetBucketCORS", err)
	}
	rules := make([]Rule, 0, len(got))
	for _, r := range got {
		rules = append(rules, Rule{
			ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposedHeaders: r.ExposeHeaders, MaxAgeInSeconds: r.MaxAgeSeconds,
		})
	}
	return rules, nil
}

// SetS3 writes the CORS rules of an S3 bucket, and nothing else of it.
func SetS3(ctx context.Context, store s3.Store, bucket string, rules []Rule) error {
	put := make([]s3.CORSRule, 0, len(rules))
	for _, r := range rules {
		put = append(put, s3.CORSRule{
			ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposedHeaders, MaxAgeSeconds: r.MaxAgeInSeconds,
		})
	}
	if err := store.SetCORS(ctx, bucket, put); err != nil {
		return s3Error("write the CORS rules of bucket "+bucket, "s3:PutBucketCORS", err)
	}
	return nil
}

// s3Error says what failed, with S3's status and code, and what to check.
func s3Error(what, permission string, err error) error {
	var e *blobstore.Error
	status := ""
	if errors.As(err, &e) && e.Status != 0 {
		status = fmt.Sprintf(": S3 answered %d %s", e.Status, e.Code)
	}
	switch blobstore.Classify(err) {
	case blobstore.Refused:
		return fmt.Errorf("cannot %s%s; check storage.service's key, and that its IAM policy allows %s on the bucket", what, status, permission)
	case blobstore.NotFound:
		return fmt.Errorf("cannot %s%s; check that the bucket exists (staging.bucket) at storage.endpoint", what, status)
	case blobstore.Unreachable, blobstore.Slow:
		return fmt.Errorf("cannot %s: S3 did not answer; check storage.endpoint and the network (%s)", what, errs.FirstLine(err))
	}
	if status != "" {
		return fmt.Errorf("cannot %s%s", what, status)
	}
	return fmt.Errorf("cannot %s: %s", what, errs.FirstLine(err))
}
