package s3emu_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/s3emu/s3emutest"
)

// TestStartStop: versitygw stores and returns an object, refuses a request
// signed with another secret, and Stop ends it and frees its port.
func TestStartStop(t *testing.T) {
	s := s3emutest.Start(t, "one")
	ctx := context.Background()
	if err := s.CreateBuckets(ctx, "one", "two"); err != nil {
		t.Fatalf("CreateBuckets again: %v", err)
	}
	c := s.Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("two"), Key: aws.String("a/b.txt"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("two"), Key: aws.String("a/b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "hello" {
		t.Fatalf("read back %q", b)
	}
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") || s.AccessKey() == "" || len(s.SecretKey()) < 32 {
		t.Errorf("endpoint %q, key %q", s.Endpoint(), s.AccessKey())
	}

	// Signatures are checked: the emulator can test blobvalet's security.
	_, err = s.NewClient(s.AccessKey(), strings.Repeat("0", 40)).ListBuckets(ctx, &s3.ListBucketsInput{})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
		t.Errorf("a wrong secret: %v, want 403", err)
	}

	pid := s.Pid()
	addr := strings.TrimPrefix(s.Endpoint(), "http://")
	s.Stop()
	s.Stop()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after Stop")
	}
	if err := syscall.Kill(-pid, 0); err == nil {
		t.Errorf("process group %d still has processes", pid)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("port %s still open", addr)
	}
}

// TestDataDirKeepsObjects: with DataDir, a restarted versitygw (with a new
// root key) still holds the buckets and objects, and Stop leaves the
// directory.
func TestDataDirKeepsObjects(t *testing.T) {
	s3emutest.Require(t)
	dir := t.TempDir()
	ctx := context.Background()
	s1 := s3emutest.StartOptions(t, s3emu.Options{DataDir: dir}, "keep")
	if _, err := s1.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keep"), Key: aws.String("x"), Body: strings.NewReader("persisted")}); err != nil {
		t.Fatal(err)
	}
	s1.Stop()
	s2 := s3emutest.StartOptions(t, s3emu.Options{DataDir: dir})
	out, err := s2.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("keep"), Key: aws.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "persisted" {
		t.Fatalf("after restart the object holds %q", b)
	}
}

func TestBadBin(t *testing.T) {
	_, err := s3emu.Start(context.Background(), s3emu.Options{Bin: "/nonexistent/versitygw"})
	if err == nil || !strings.Contains(err.Error(), "VERSITYGW_BIN") {
		t.Fatalf("error %v, want a hint about VERSITYGW_BIN", err)
	}
	// A program that exits at once: the error carries its output.
	bin := t.TempDir() + "/fake"
	os.WriteFile(bin, []byte("#!/bin/sh\necho broken emulator >&2\nexit 3\n"), 0o755)
	_, err = s3emu.Start(context.Background(), s3emu.Options{Bin: bin})
	if err == nil || !strings.Contains(err.Error(), "broken emulator") {
		t.Fatalf("error %v, want the emulator's output", err)
	}
}

// TestNewUserOnlyWhatPolicyGrants: with IAM, an account NewUser adds may do
// what a bucket policy grants it and nothing else, while the root key
// still may do everything.
func TestNewUserOnlyWhatPolicyGrants(t *testing.T) {
	s3emutest.Require(t)
	s := s3emutest.StartOptions(t, s3emu.Options{IAM: true}, "stage", "final")
	ctx := context.Background()
	id, secret, err := s.NewUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Grant(ctx, "stage", id, "s3:PutObject"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("final"), Key: aws.String("secret.txt"), Body: strings.NewReader("final")}); err != nil {
		t.Fatal(err)
	}
	user := s.NewClient(id, secret)
	if _, err := user.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("stage"), Key: aws.String("a.txt"), Body: strings.NewReader("up")}); err != nil {
		t.Fatalf("put where the policy allows: %v", err)
	}
	denied := func(what string, err error) {
		t.Helper()
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
			t.Errorf("%s: %v, want 403", what, err)
		}
	}
	_, err = user.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("stage"), Key: aws.String("a.txt")})
	denied("get in the granted bucket", err)
	_, err = user.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("final"), Key: aws.String("secret.txt")})
	denied("get in another bucket", err)
	_, err = user.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("stage"), Key: aws.String("copy.txt"), CopySource: aws.String("final/secret.txt")})
	denied("copy out of another bucket", err)
	_, err = user.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("final"), Key: aws.String("b.txt"), Body: strings.NewReader("x")})
	denied("put in another bucket", err)
}
