package s3

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CORSRule is one rule of a bucket's CORS configuration.
type CORSRule struct {
	// ID names the rule; optional.
	ID             string
	AllowedOrigins []string
	AllowedMethods []string
	AllowedHeaders []string
	ExposeHeaders  []string
	// MaxAgeSeconds is how long a browser may cache a preflight; 0 leaves
	// it unset.
	MaxAgeSeconds int32
}

// CORS reads bucket's CORS rules (GetBucketCors); none when it has no CORS
// configuration.
func (s Store) CORS(ctx context.Context, bucket string) ([]CORSRule, error) {
	out, err := s.Client.GetBucketCors(ctx, &s3sdk.GetBucketCorsInput{Bucket: aws.String(bucket)})
	if codeOf(err) == "NoSuchCORSConfiguration" {
		return []CORSRule{}, nil
	}
	if err != nil {
		return nil, Wrap(err)
	}
	rules := make([]CORSRule, 0, len(out.CORSRules))
	for _, r := range out.CORSRules {
		rules = append(rules, CORSRule{
			ID:             aws.ToString(r.ID),
			AllowedOrigins: orEmpty(r.AllowedOrigins),
			AllowedMethods: orEmpty(r.AllowedMethods),
			AllowedHeaders: orEmpty(r.AllowedHeaders),
			ExposeHeaders:  orEmpty(r.ExposeHeaders),
			MaxAgeSeconds:  aws.ToInt32(r.MaxAgeSeconds),
		})
	}
	return rules, nil
}

// SetCORS replaces bucket's CORS rules with rules (PutBucketCors); no rules
// deletes the configuration (DeleteBucketCors), as S3 takes none empty.
func (s Store) SetCORS(ctx context.Context, bucket string, rules []CORSRule) error {
	if len(rules) == 0 {
		_, err := s.Client.DeleteBucketCors(ctx, &s3sdk.DeleteBucketCorsInput{Bucket: aws.String(bucket)})
		return Wrap(err)
	}
	cfg := &types.CORSConfiguration{}
	for _, r := range rules {
		rule := types.CORSRule{
			AllowedOrigins: slices.Clone(r.AllowedOrigins),
			AllowedMethods: slices.Clone(r.AllowedMethods),
			AllowedHeaders: slices.Clone(r.AllowedHeaders),
			ExposeHeaders:  slices.Clone(r.ExposeHeaders),
		}
		if r.ID != "" {
			rule.ID = aws.String(r.ID)
		}
		if r.MaxAgeSeconds > 0 {
			rule.MaxAgeSeconds = aws.Int32(r.MaxAgeSeconds)
		}
		cfg.CORSRules = append(cfg.CORSRules, rule)
	}
	_, err := s.Client.PutBucketCors(ctx, &s3sdk.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: cfg})
	return Wrap(err)
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
