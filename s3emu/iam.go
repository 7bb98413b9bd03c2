package s3emu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// account is versitygw's admin API's account, as its create-user takes it.
type account struct {
	XMLName xml.Name `xml:"Account"`
	Access  string   `xml:"Access"`
	Secret  string   `xml:"Secret"`
	Role    string   `xml:"Role"`
}

// NewUser adds an account with the role "user" and returns its key, made
// for the run: it owns nothing, so it may do only what bucket policies
// grant its access key id (the policy's Principal {"AWS": [id]}). It needs
// Options.IAM.
func (s *Server) NewUser(ctx context.Context) (access, secret string, err error) {
	if s.iamDir == "" {
		return "", "", fmt.Errorf("s3emu: NewUser needs Options.IAM")
	}
	access, secret = "BVU"+randomHex(8), randomHex(20)
	body, err := xml.Marshal(account{Access: access, Secret: secret, Role: "user"})
	if err != nil {
		return "", "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, s.Endpoint()+"/create-user", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: s.access, SecretAccessKey: s.secret}, req, hash, "s3", Region, time.Now()); err != nil {
		return "", "", fmt.Errorf("s3emu: sign create-user: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("s3emu: create-user: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return "", "", fmt.Errorf("s3emu: create-user: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return access, secret, nil
}

// Grant sets bucket's policy to one statement allowing the account with
// the access key id the actions on every object of the bucket, such as
// "s3:PutObject"; it replaces the bucket's policy. The statement names
// the bucket itself too: versitygw checks a browser's POST upload (a POST
// policy) against the bucket, not the object, so s3:PutObject on objects
// alone refuses it.
func (s *Server) Grant(ctx context.Context, bucket, access string, actions ...string) error {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string][]string{"AWS": {access}},
			"Action":    actions,
			"Resource":  []string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"},
		}},
	}
	policy, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if _, err := s.client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(policy))}); err != nil {
		return fmt.Errorf("s3emu: policy of bucket %s: %w", bucket, err)
	}
	return nil
}
