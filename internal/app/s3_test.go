package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap/zaptest"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/s3emu/s3emutest"
	"github.com/blobvalet/blobvalet/staging"
)

const (
	aliceToken = "alice-token-0123456789"
	bobToken   = "bob-token-0123456789ab"
)

// s3YAML is an S3 configuration on versitygw at %s, path-style, with the
// root key as both credentials.
const s3YAML = `
listen: "127.0.0.1:0"
admin_listen: "127.0.0.1:0"
storage:
  kind: s3
  region: us-east-1
  endpoint: %q
  addressing: path
  signer: {access_key_id_env: S3_ID, secret_access_key_env: S3_SECRET}
  service: {access_key_id_env: S3_ID, secret_access_key_env: S3_SERVICE_SECRET}
auth: {tokens: [{user: alice, token_env: ALICE}, {user: bob, token_env: BOB}]}
staging: {bucket: incoming}
rules:
  - {name: own, users: ["*"], bucket: uploads, blobs: "users/{user}/**", methods: [PUT, DELETE], content_types: ["text/plain"]}
  - {name: shared, users: ["*"], bucket: shared, blobs: "**", methods: [PUT], content_types: ["text/plain"]}
`

// s3Fixture is a versitygw with the buckets of s3YAML.
type s3Fixture struct {
	t   *testing.T
	emu *s3emu.Server
}

func startS3(t *testing.T, buckets ...string) *s3Fixture {
	t.Helper()
	if len(buckets) == 0 {
		buckets = []string{"incoming", "uploads", "shared"}
	}
	return &s3Fixture{t: t, emu: s3emutest.Start(t, buckets...)}
}

// config parses s3YAML on the fixture, edited by edit; secret replaces the
// service's secret when not "".
func (f *s3Fixture) config(secret string, edit func(string) string) (*config.Config, error) {
	y := fmt.Sprintf(s3YAML, f.emu.Endpoint())
	if edit != nil {
		y = edit(y)
	}
	if secret == "" {
		secret = f.emu.SecretKey()
	}
	vars := map[string]string{"S3_ID": f.emu.AccessKey(), "S3_SECRET": f.emu.SecretKey(), "S3_SERVICE_SECRET": secret, "ALICE": aliceToken, "BOB": bobToken}
	return config.Parse([]byte(y), func(k string) string { return vars[k] })
}

func (f *s3Fixture) app(edit func(string) string) *App {
	f.t.Helper()
	cfg, err := f.config("", edit)
	if err != nil {
		f.t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, Options{Log: zaptest.NewLogger(f.t)})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(a.Close)
	return a
}

func (f *s3Fixture) put(bucket, key, body string) string {
	f.t.Helper()
	out, err := f.emu.Client().PutObject(context.Background(), &s3sdk.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body), ContentType: aws.String("text/plain"),
		Metadata: map[string]string{"qqfilename": "a.txt", "blobvalet-owner": "mallory"},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.ETag)
}

// stage puts body where user's upload to bucket/name waits.
func (f *s3Fixture) stage(user, bucket, name, body string) blobref.Ref {
	f.t.Helper()
	ref, err := staging.Area{Container: "incoming"}.Ref(user, blobref.Ref{Container: bucket, Name: blobref.Name(name)})
	if err != nil {
		f.t.Fatal(err)
	}
	f.put(ref.Container, string(ref.Name), body)
	return ref
}

func (f *s3Fixture) head(bucket, key string) (*s3sdk.HeadObjectOutput, error) {
	return f.emu.Client().HeadObject(context.Background(), &s3sdk.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
}

type successAnswer struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
}

// success posts Fine Uploader S3's upload-success request for the token's
// user's upload of bucket/name: the staging key and bucket.
func (f *s3Fixture) success(a *App, token, bucket, name string) (int, successAnswer) {
	user := map[string]string{aliceToken: "alice", bobToken: "bob"}[token]
	key := base64.RawURLEncoding.EncodeToString([]byte(user)) + "/" + bucket + "/" + name
	form := url.Values{"key": {key}, "bucket": {"incoming"}, "uuid": {"u-1"}, "name": {"a.txt"}}
	req := httptest.NewRequest(http.MethodPost, "/success", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	var ans successAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
		f.t.Fatalf("/success answered %d %q", rec.Code, rec.Body)
	}
	return rec.Code, ans
}

// TestS3Serve: serve on S3 starts, finds what versitygw honours, verifies
// and promotes an upload with blobvalet's stamp (which a repeat reads
// back), deletes a rejected one, is ready, and serves the S3 routes and not /sas.
func TestS3Serve(t *testing.T) {
	f := startS3(t)
	a := f.app(nil)
	g := a.current.Load()
	if co := g.s3.found.CreateOnly; !co.Put || co.Copy || !co.Complete {
		t.Errorf("create-only on versitygw %s: %+v, want Put and Complete, not Copy", s3emu.Version, co)
	}
	store, ok := g.sweeper.Store.(s3.Store)
	if !ok || store.CopyIfNoneMatch {
		t.Errorf("serve's store %T promotes by CopyObject on a service that ignores If-None-Match there", g.sweeper.Store)
	}

	// Verified and promoted, stamped; the uploader's own blobvalet- name
	// is dropped.
	stg := f.stage("alice", "uploads", "users/alice/a.txt", "hello")
	if code, ans := f.success(a, aliceToken, "uploads", "users/alice/a.txt"); code != http.StatusOK || !ans.Success {
		t.Fatalf("/success: %d %+v", code, ans)
	}
	out, err := f.head("uploads", "users/alice/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	md := out.Metadata
	if md["blobvalet-owner"] != "alice" || md["blobvalet-event"] == "" || md["blobvalet-verified-at"] == "" || md["qqfilename"] != "a.txt" {
		t.Errorf("promoted object's metadata %v, want blobvalet's stamp with hyphens and the uploader's qqfilename", md)
	}
	for k := range md {
		if strings.Contains(k, "_") {
			t.Errorf("metadata name %q has an underscore, which proxies may drop", k)
		}
	}
	if _, err := f.head("incoming", string(stg.Name)); err == nil {
		t.Error("the staging object is still there after promotion")
	}
	// A repeat reads the stamp back: the same upload, answered again.
	if code, ans := f.success(a, aliceToken, "uploads", "users/alice/a.txt"); code != http.StatusOK || !ans.Success {
		t.Errorf("repeated /success: %d %+v", code, ans)
	}
	// Someone else's repeat is not theirs.
	f.stage("bob", "shared", "x.txt", "bob's")
	if code, ans := f.success(a, bobToken, "uploads", "users/alice/a.txt"); code == http.StatusOK || ans.Success {
		t.Errorf("bob's /success for alice's file: %d %+v", code, ans)
	}

	// A rejected upload (not text/plain) is deleted, nothing promoted.
	ref, _ := staging.Area{Container: "incoming"}.Ref("alice", blobref.Ref{Container: "uploads", Name: "users/alice/b.txt"})
	if _, err := f.emu.Client().PutObject(context.Background(), &s3sdk.PutObjectInput{
		Bucket: aws.String("incoming"), Key: aws.String(string(ref.Name)), Body: strings.NewReader("<html>"), ContentType: aws.String("text/html"),
	}); err != nil {
		t.Fatal(err)
	}
	if code, ans := f.success(a, aliceToken, "uploads", "users/alice/b.txt"); code == http.StatusOK || ans.Success {
		t.Errorf("/success of a rejected upload: %d %+v", code, ans)
	}
	if _, err := f.head("incoming", string(ref.Name)); err == nil {
		t.Error("the rejected upload is still in staging")
	}
	if _, err := f.head("uploads", "users/alice/b.txt"); err == nil {
		t.Error("the rejected upload reached its final name")
	}

	a.Refresh(context.Background())
	if rd := a.Readiness(); !rd.OK() || len(rd.Parts) == 0 {
		t.Errorf("readiness %+v", rd)
	}
	for _, p := range a.Readiness().Parts {
		if p.Problem != "" {
			t.Errorf("%s degraded: %s", p.Name, p.Problem)
		}
	}

	// The S3 routes are served, /sas (which signs for Azure) is not.
	for target, want := range map[string]int{
		"/sas?bloburi=" + url.QueryEscape(f.emu.Endpoint()+"/uploads/users/alice/c.txt") + "&_method=PUT": http.StatusNotFound,
		"/s3/key?bucket=uploads&name=users/alice/c.txt":                                                   http.StatusOK,
		"/s3/key?bucket=uploads&name=users/bob/c.txt":                                                     http.StatusForbidden,
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		a.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("GET %s on S3: %d %q, want %d", target, rec.Code, rec.Body, want)
		}
	}

	// Storage gone: verifying degrades, signing does not.
	f.emu.Stop()
	a.Refresh(context.Background())
	for _, p := range a.Readiness().Parts {
		if p.Name == partVerifying && !strings.Contains(p.Problem, "cannot be reached") {
			t.Errorf("verifying with storage gone: %q", p.Problem)
		}
	}
	if !a.Readiness().OK() {
		t.Error("not ready with storage gone: signing does not need it")
	}
}

// TestS3CreateOnlyRace: where If-None-Match on CopyObject is ignored, serve
// promotes by multipart copy, and of concurrent promotions to one name
// that may not be overwritten, one wins and the others find it taken.
func TestS3CreateOnlyRace(t *testing.T) {
	f := startS3(t)
	a := f.app(nil)
	store := a.current.Load().sweeper.Store.(s3.Store)
	final := blobref.Ref{Container: "shared", Name: "race.txt"}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		src := blobref.Ref{Container: "incoming", Name: blobref.Name(fmt.Sprintf("src-%d", i))}
		etag := f.put("incoming", string(src.Name), fmt.Sprintf("upload %d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = store.Promote(context.Background(), src, etag, int64(len("upload 0")), final, blobstore.Commit{
				ContentType: "text/plain", Metadata: map[string]string{"blobvalet_owner": fmt.Sprint(i)}, CreateOnly: true,
			})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case err == nil:
			t.Errorf("promotions %d and %d both won", won, i)
		case !errors.Is(err, blobstore.ErrTaken):
			t.Errorf("promotion %d: %v, want ErrTaken", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no promotion won")
	}
	out, err := f.head("shared", "race.txt")
	if err != nil || out.Metadata["blobvalet-owner"] != fmt.Sprint(won) {
		t.Errorf("final object %v, %v; want promotion %d's", out, err, won)
	}

	// The same through /success: alice and bob upload one name at once.
	f.stage("alice", "shared", "both.txt", "alice's")
	f.stage("bob", "shared", "both.txt", "bob's")
	codes := make([]int, 2)
	for i, tok := range []string{aliceToken, bobToken} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = f.success(a, tok, "shared", "both.txt")
		}()
	}
	wg.Wait()
	if (codes[0] == http.StatusOK) == (codes[1] == http.StatusOK) {
		t.Errorf("concurrent /success for one name: %v, want exactly one 200", codes)
	}
}

// TestS3Sweeper: the sweeper removes stale staging objects and aborts
// stale incomplete multipart uploads, and leaves fresh ones; its lock
// object is gone after.
func TestS3Sweeper(t *testing.T) {
	f := startS3(t)
	a := f.app(nil)
	sw := *a.current.Load().sweeper
	ctx := context.Background()
	f.stage("alice", "uploads", "users/alice/old.txt", "old")
	mpu, _ := staging.Area{Container: "incoming"}.Ref("bob", blobref.Ref{Container: "uploads", Name: "users/bob/big.bin"})
	if _, err := f.emu.Client().CreateMultipartUpload(ctx, &s3sdk.CreateMultipartUploadInput{Bucket: aws.String("incoming"), Key: aws.String(string(mpu.Name))}); err != nil {
		t.Fatal(err)
	}
	rep, err := sw.Sweep(ctx, 24*time.Hour)
	if err != nil || rep.Examined != 2 || rep.Removed != 0 {
		t.Errorf("sweep of fresh uploads: %+v, %v", rep, err)
	}
	sw.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	rep, err = sw.Sweep(ctx, 24*time.Hour)
	if err != nil || rep.Examined != 2 || rep.Removed != 2 || rep.Failed != 0 {
		t.Errorf("sweep a day later: %+v, %v", rep, err)
	}
	objs, err := f.emu.Client().ListObjectsV2(ctx, &s3sdk.ListObjectsV2Input{Bucket: aws.String("incoming")})
	if err != nil || len(objs.Contents) != 0 {
		t.Errorf("left in staging: %v, %v", objs, err)
	}
	ups, err := f.emu.Client().ListMultipartUploads(ctx, &s3sdk.ListMultipartUploadsInput{Bucket: aws.String("incoming")})
	if err != nil || len(ups.Uploads) != 0 {
		t.Errorf("multipart uploads left: %v, %v", ups, err)
	}
}

// TestS3StartupRefusals: every wrong S3 setup stops serve at start, saying
// what to fix, without a secret.
func TestS3StartupRefusals(t *testing.T) {
	f := startS3(t, "incoming", "uploads")
	ctx := context.Background()
	check := func(name, secret string, edit func(string) string, want string) {
		t.Helper()
		cfg, err := f.config(secret, edit)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = New(ctx, cfg, Options{Log: zaptest.NewLogger(t)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), f.emu.SecretKey()) || strings.Contains(err.Error(), secret) && secret != "") {
			t.Errorf("%s: the error holds a secret", name)
		}
	}
	check("no rule bucket", "", nil, `bucket, named by a rule, "shared" does not exist at `+f.emu.Endpoint()+`: create it (aws s3api create-bucket --bucket shared --region us-east-1) or fix the configuration`)
	f.emu.CreateBuckets(ctx, "shared")
	check("no staging bucket", "", func(y string) string { return strings.Replace(y, "bucket: incoming", "bucket: missing", 1) },
		`staging bucket "missing" does not exist`)
	check("wrong secret", strings.Repeat("x", 40), nil, "refused storage.service (access key …")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::incoming/*"}]}`
	if _, err := f.emu.Client().PutBucketPolicy(ctx, &s3sdk.PutBucketPolicyInput{Bucket: aws.String("incoming"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	check("public staging", "", nil, `staging bucket "incoming" is public (its bucket policy grants access to anyone): unverified uploads must never be readable`)
}

// TestCreateOnlyRules: a rule that may not overwrite is refused where the
// promotion it would take cannot be create-only, saying why; one that may
// overwrite, or only deletes, is not.
func TestCreateOnlyRules(t *testing.T) {
	y := `
storage: {kind: s3, region: us-east-1, signer: {access_key_id_env: ID, secret_access_key_env: S}, service: {access_key_id_env: ID, secret_access_key_env: S}}
auth: {tokens: [{user: alice, token_env: T}]}
staging: {bucket: incoming}
rules:
  - {name: small, users: ["*"], bucket: aaa, blobs: "**", methods: [PUT], max_size: 10MiB}
  - {name: huge, users: ["*"], bucket: bbb, blobs: "**", methods: [PUT], max_size: 6GiB}
  - {name: replace, users: ["*"], bucket: ccc, blobs: "**", methods: [PUT], overwrite: true}
  - {name: delete, users: ["*"], bucket: ddd, blobs: "**", methods: [DELETE]}
`
	cfg, err := config.Parse([]byte(y), func(k string) string {
		return map[string]string{"ID": "AKIA1234", "S": "secret-0123456789", "T": aliceToken}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := createOnlyRules(cfg, s3.CreateOnly{Complete: true}); err != nil {
		t.Errorf("with Complete honoured: %v", err)
	}
	err = createOnlyRules(cfg, s3.CreateOnly{Copy: true, Put: true})
	if err == nil || strings.Contains(err.Error(), "rules[0]") || !strings.Contains(err.Error(), "rules[1] (huge) has overwrite: false, but storage at https://s3.us-east-1.amazonaws.com does not honour If-None-Match: * on CompleteMultipartUpload, which promotes uploads above 5 GiB") {
		t.Errorf("with only CopyObject honoured: %v", err)
	}
	err = createOnlyRules(cfg, s3.CreateOnly{Notes: []string{"CopyObject with If-None-Match: * overwrote an existing object", "CompleteMultipartUpload with If-None-Match: * overwrote an existing object"}})
	for _, want := range []string{"rules[0] (small) has overwrite: false", "rules[1] (huge)", "set overwrite: true on the rule", "(CopyObject with If-None-Match: * overwrote an existing object and CompleteMultipartUpload"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("with neither honoured: %v, want %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "replace") || strings.Contains(err.Error(), "delete")) {
		t.Errorf("refused a rule that may overwrite or only deletes: %v", err)
	}
}

func TestS3Signing(t *testing.T) {
	y := `
storage: {kind: s3, region: eu-west-1, acl: bucket-owner-full-control, signer: {access_key_id_env: SID, secret_access_key_env: SS}, service: {access_key_id_env: ID, secret_access_key_env: S}}
auth: {tokens: [{user: alice, token_env: T}]}
staging: {bucket: incoming}
sas: {lifetime: 5m}
rules: [{name: r, users: ["*"], bucket: uploads, blobs: "**", methods: [PUT]}]
`
	cfg, err := config.Parse([]byte(y), func(k string) string {
		return map[string]string{"SID": "AKIASIGNER", "SS": "signer-secret", "ID": "AKIA1234", "S": "secret-0123456789", "T": aliceToken}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := NewS3Signing(cfg)
	want := S3Signing{
		Keys: config.S3Keys{AccessKeyID: "AKIASIGNER", SecretAccessKey: "signer-secret"}, Region: "eu-west-1", Bucket: "incoming",
		Host: "incoming.s3.eu-west-1.amazonaws.com", URL: "https://incoming.s3.eu-west-1.amazonaws.com", ACL: "bucket-owner-full-control", Lifetime: 5 * time.Minute,
	}
	if !ok || s != want {
		t.Errorf("NewS3Signing = %+v, %v\nwant %+v", s, ok, want)
	}
}

// TestS3Reload: a reload on S3 builds a new generation with its own
// checks; one that fails them leaves the running one in place.
func TestS3Reload(t *testing.T) {
	f := startS3(t)
	path := t.TempDir() + "/blobvalet.yaml"
	y := fmt.Sprintf(s3YAML, f.emu.Endpoint())
	write := func(y string) {
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(y)
	for k, v := range map[string]string{"S3_ID": f.emu.AccessKey(), "S3_SECRET": f.emu.SecretKey(), "S3_SERVICE_SECRET": f.emu.SecretKey(), "ALICE": aliceToken, "BOB": bobToken} {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, Options{Log: zaptest.NewLogger(t), ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	first := a.current.Load()
	write(strings.Replace(y, "bucket: shared", "bucket: missing", 1))
	if err := a.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), `"missing" does not exist`) {
		t.Errorf("reload onto a missing bucket: %v", err)
	}
	if a.current.Load() != first {
		t.Error("a failed reload replaced the running configuration")
	}
	write(strings.Replace(y, "blobs: \"**\"", "blobs: \"public/**\"", 1))
	if err := a.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if g := a.current.Load(); g == first || g.s3 == nil || !g.s3.found.CreateOnly.Complete {
		t.Errorf("after reload: %+v", g)
	}
}
