package s3_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/s3emu"
)

// TestProbeCreateOnlyOnVersitygw: versitygw honours If-None-Match on
// PutObject and on CompleteMultipartUpload and ignores it on CopyObject;
// the probe must find exactly that, and leave nothing behind.
func TestProbeCreateOnlyOnVersitygw(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	got, err := f.s.ProbeCreateOnly(ctx, "incoming")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Put || got.Copy || !got.Complete {
		t.Errorf("probe on versitygw %s = %+v, want Put and Complete, not Copy", s3emu.Version, got)
	}
	if len(got.Notes) != 1 || got.Notes[0] != "CopyObject with If-None-Match: * overwrote an existing object" {
		t.Errorf("notes %q", got.Notes)
	}
	if !got.CanCreateOnly(s3.MaxCopySize+1) || (s3.CreateOnly{Copy: true}).CanCreateOnly(s3.MaxCopySize+1) || !(s3.CreateOnly{Copy: true}).CanCreateOnly(s3.MaxCopySize) {
		t.Error("CanCreateOnly")
	}
	var left []string
	f.s.List(ctx, "incoming", func(it blobstore.Item) error { left = append(left, string(it.Name)); return nil })
	if len(left) != 0 {
		t.Errorf("the probe left %q", left)
	}
}

// TestProbeRefused: a probe that storage refuses is an error, not a
// verdict.
func TestProbeRefused(t *testing.T) {
	f := start(t)
	c, err := s3.NewClient(s3.Config{
		Endpoint: f.emu.Endpoint(), Region: s3emu.Region, PathStyle: true,
		AccessKeyID: f.emu.AccessKey(), SecretAccessKey: strings.Repeat("x", 40),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (s3.Store{Client: c}).ProbeCreateOnly(context.Background(), "incoming"); !errors.Is(err, blobstore.ErrRefused) {
		t.Errorf("probe with a wrong secret: %v, want ErrRefused", err)
	}
	if _, err := f.s.ProbeCreateOnly(context.Background(), "nobucket"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("probe in no bucket: %v, want ErrNotFound", err)
	}
}

func TestBucketChecks(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if err := f.s.CheckBucket(ctx, "incoming"); err != nil {
		t.Errorf("CheckBucket: %v", err)
	}
	if err := f.s.CheckBucket(ctx, "nobucket"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("CheckBucket of no bucket: %v, want ErrNotFound", err)
	}
	ex, err := f.s.BucketExposure(ctx, "incoming")
	if err != nil || len(ex.Public) != 0 {
		t.Fatalf("a new bucket: %+v, %v", ex, err)
	}
	t.Logf("notes on a new bucket: %q", ex.Notes)
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, "incoming")
	if _, err := f.emu.Client().PutBucketPolicy(ctx, &s3sdk.PutBucketPolicyInput{Bucket: aws.String("incoming"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	ex, err = f.s.BucketExposure(ctx, "incoming")
	if err != nil || !slices.Contains(ex.Public, "its bucket policy grants access to anyone") {
		t.Errorf("a bucket readable by anyone: %+v, %v", ex, err)
	}
	if _, err := f.s.BucketExposure(ctx, "nobucket"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("BucketExposure of no bucket: %v, want ErrNotFound", err)
	}
}

// TestCORS: rules written are read back as written; none deletes them.
func TestCORS(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if rules, err := f.s.CORS(ctx, "incoming"); err != nil || len(rules) != 0 {
		t.Fatalf("CORS of a new bucket: %+v, %v", rules, err)
	}
	want := []s3.CORSRule{{
		ID: "blobvalet", AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []string{"PUT", "POST", "GET", "DELETE"},
		AllowedHeaders: []string{"content-type", "authorization", "x-amz-*"}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: 3600,
	}, {AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{}, ExposeHeaders: []string{}}}
	if err := f.s.SetCORS(ctx, "incoming", want); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.CORS(ctx, "incoming")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("CORS read back\n %+v, %v\nwant\n %+v", got, err, want)
	}
	if err := f.s.SetCORS(ctx, "incoming", nil); err != nil {
		t.Fatal(err)
	}
	if rules, err := f.s.CORS(ctx, "incoming"); err != nil || len(rules) != 0 {
		t.Errorf("CORS after deleting: %+v, %v", rules, err)
	}
	if _, err := f.s.CORS(ctx, "nobucket"); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("CORS of no bucket: %v, want ErrNotFound", err)
	}
}
