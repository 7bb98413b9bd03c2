package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/s3emu/s3emutest"
)

const s3CheckConfig = `
storage:
  kind: s3
  region: us-east-1
  endpoint: %q
  addressing: path
  signer: {access_key_id_env: CLI_S3_ID, secret_access_key_env: CLI_S3_SECRET}
  service: {access_key_id_env: CLI_S3_ID, secret_access_key_env: CLI_S3_SECRET}
cors_origins: ["https://app.example.com"]
auth: {tokens: [{user: alice, token_env: CHECK_ALICE_TOKEN}]}
staging: {bucket: incoming}
rules:
  - {name: own-folder, users: ["*"], bucket: uploads, blobs: "users/{user}/**", methods: [PUT, DELETE]}
`

// startS3 starts versitygw with the buckets of s3CheckConfig and returns
// the path of that configuration on it.
func startS3(t *testing.T) (*s3emu.Server, string) {
	t.Helper()
	emu := s3emutest.Start(t, "incoming", "uploads")
	t.Setenv("CLI_S3_ID", emu.AccessKey())
	t.Setenv("CLI_S3_SECRET", emu.SecretKey())
	t.Setenv("CHECK_ALICE_TOKEN", "alice-token-0123456789")
	return emu, writeConfig(t, fmt.Sprintf(s3CheckConfig, emu.Endpoint()))
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), Process{}, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCheckS3: check --storage on versitygw reports which create-only
// writes it honours and how promotion goes there, and no secret.
func TestCheckS3(t *testing.T) {
	emu, path := startS3(t)
	code, stdout, stderr := checkCmd(t, "--config", path)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"storage:    s3 at " + emu.Endpoint() + ", region us-east-1, path addressing, acl private",
		"signs uploads to " + emu.Endpoint() + "/incoming", "buckets:    uploads", "staging:    bucket incoming",
		"note:       signer and service are one key", "not checked: storage",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = checkCmd(t, "--config", path, "--storage")
	if code != 0 {
		t.Fatalf("check --storage: exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"  PutObject                honoured  (the sweeper's lock)",
		"  CopyObject               ignored   (promotion up to 5 GiB)",
		"  CompleteMultipartUpload  honoured  (promotion by multipart copy)",
		"  promotion: multipart copy, completed create-only",
		"  found: CopyObject with If-None-Match: * overwrote an existing object",
		"staging bucket: GetPublicAccessBlock: not told (501 NotImplemented)",
		"storage ok: " + emu.Endpoint() + " answers, storage.service works, buckets uploads exist, staging bucket incoming is not public",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check --storage output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, emu.SecretKey()) {
		t.Error("the output holds the secret key")
	}

	// A missing bucket: exit 1, saying what to do.
	if _, err := emu.Client().DeleteBucket(context.Background(), &s3sdk.DeleteBucketInput{Bucket: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = checkCmd(t, "--config", path, "--storage")
	if code != 1 || !strings.Contains(stderr, `bucket, named by a rule, "uploads" does not exist at `+emu.Endpoint()+": create it") {
		t.Errorf("check --storage without the bucket: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestSweepS3: blobvalet sweep removes stale staging objects and aborts
// stale multipart uploads on S3; --dry-run removes nothing.
func TestSweepS3(t *testing.T) {
	emu, path := startS3(t)
	ctx := context.Background()
	if _, err := emu.Client().PutObject(ctx, &s3sdk.PutObjectInput{Bucket: aws.String("incoming"), Key: aws.String("YWxpY2U/uploads/users/alice/a.txt"), Body: strings.NewReader("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.Client().CreateMultipartUpload(ctx, &s3sdk.CreateMultipartUploadInput{Bucket: aws.String("incoming"), Key: aws.String("Ym9i/uploads/users/bob/big.bin")}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "sweep", "--config", path, "--older-than", "1h")
	if code != 0 || !strings.Contains(stdout, "removed 0 unverified uploads (0 bytes) older than 1h0m0s; 2 in staging bucket incoming") {
		t.Errorf("sweep of fresh uploads: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "sweep", "--config", path, "--older-than", "0s", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would remove 2 unverified uploads") {
		t.Errorf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "sweep", "--config", path, "--older-than", "0s")
	if code != 0 || !strings.Contains(stdout, "removed 2 unverified uploads (1 bytes)") {
		t.Errorf("sweep: exit %d\n%s%s", code, stdout, stderr)
	}
	objs, _ := emu.Client().ListObjectsV2(ctx, &s3sdk.ListObjectsV2Input{Bucket: aws.String("incoming")})
	ups, _ := emu.Client().ListMultipartUploads(ctx, &s3sdk.ListMultipartUploadsInput{Bucket: aws.String("incoming")})
	if len(objs.Contents) != 0 || len(ups.Uploads) != 0 {
		t.Errorf("left: %d objects, %d multipart uploads", len(objs.Contents), len(ups.Uploads))
	}
}

// TestCorsS3: blobvalet cors writes the staging bucket's CORS rule for
// the configuration's origins, reads it back, and versitygw then answers a
// Fine Uploader S3 preflight from that origin and exposes ETag; another
// origin is refused.
func TestCorsS3(t *testing.T) {
	emu, path := startS3(t)
	code, stdout, stderr := run(t, "cors", "show", "--config", path)
	if code != 0 || !strings.Contains(stdout, "S3 staging bucket incoming at "+emu.Endpoint()) || !strings.Contains(stdout, "No CORS rules.") {
		t.Fatalf("show before: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "cors", "plan", "--config", path)
	if code != 0 || !strings.Contains(stdout, "+ rule 1 added for https://app.example.com") || !strings.Contains(stdout, "Nothing written (plan)") {
		t.Fatalf("plan: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "cors", "apply", "--config", path, "--header", "Cache-Control")
	if code != 0 || !strings.Contains(stdout, "Written.") {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "cors", "show", "--config", path, "--json")
	want := `"allowedOrigins": [
      "https://app.example.com"
    ],
    "allowedMethods": [
      "PUT",
      "POST",
      "GET",
      "DELETE"
    ],
    "allowedHeaders": [
      "content-type",
      "authorization",
      "x-amz-*",
      "cache-control"
    ],
    "exposedHeaders": [
      "ETag"
    ],
    "maxAgeInSeconds": 3600`
	if code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("show --json: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "cors", "apply", "--config", path, "--header", "Cache-Control")
	if code != 0 || !strings.Contains(stdout, "Nothing to change") {
		t.Errorf("apply again: exit %d\n%s", code, stdout)
	}

	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, emu.Endpoint()+"/incoming/YWxpY2U/uploads/a.txt?partNumber=1&uploadId=x", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-amz-content-sha256,x-amz-date,x-amz-meta-qqfilename")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example.com")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Errorf("preflight from the page: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight("https://evil.example.com"); resp.StatusCode == http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", resp.StatusCode, resp.Header)
	}

	// Without cors_origins or --origin there is nothing to allow.
	t.Setenv("CLI_S3_ID", emu.AccessKey())
	bare := writeConfig(t, strings.Replace(fmt.Sprintf(s3CheckConfig, emu.Endpoint()), `cors_origins: ["https://app.example.com"]`, "", 1))
	code, _, stderr = run(t, "cors", "apply", "--config", bare)
	if code != 2 || !strings.Contains(stderr, "no origin: set cors_origins in the configuration, or pass --origin") {
		t.Errorf("apply without origins: exit %d, %s", code, stderr)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeS3: blobvalet serve starts on an S3 configuration, serves, and
// stops in order.
func TestServeS3(t *testing.T) {
	emu, _ := startS3(t)
	path := writeConfig(t, "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nshutdown: {drain: 100ms}\n"+fmt.Sprintf(s3CheckConfig, emu.Endpoint()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- Run(ctx, Process{}, []string{"serve", "--config", path}, &stdout, &stderr) }()
	addr := ""
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for line := range strings.SplitSeq(stderr.String(), "\n") {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "listening" {
				addr = entry.Addr
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		default:
		}
	}
	if addr == "" {
		t.Fatalf("serve did not listen:\n%s", stderr.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if !strings.Contains(stderr.String(), `"storage ready"`) || strings.Contains(stderr.String(), emu.SecretKey()) {
		t.Errorf("log:\n%s", stderr.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
