package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blobvalet/blobvalet/blobref"
)

// MaxReadURLLifetime is the longest a presigned URL lives: S3 refuses one
// signed for more than seven days.
const MaxReadURLLifetime = 7 * 24 * time.Hour

// ReadURL returns a presigned GET URL of ref, valid until expiry and
// signed with the store's credential, such as a thumbnail's. It asks
// nothing of storage: whether the object exists is told when the URL is
// used. A credential with a session token signs URLs that end with the
// token, which may be sooner.
func (s Store) ReadURL(ref blobref.Ref, expiry time.Time) (string, error) {
	d := expiry.Sub(s.now()).Round(time.Second)
	if d < time.Second || d > MaxReadURLLifetime {
		return "", fmt.Errorf("s3: a read URL must live between 1s and %v, not %v", MaxReadURLLifetime, d)
	}
	req, err := s3sdk.NewPresignClient(s.Client).PresignGetObject(context.Background(),
		&s3sdk.GetObjectInput{Bucket: aws.String(ref.Container), Key: aws.String(string(ref.Name))},
		s3sdk.WithPresignExpires(d))
	if err != nil {
		return "", fmt.Errorf("s3: presign a read URL: %w", err)
	}
	return req.URL, nil
}
