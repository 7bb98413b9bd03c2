package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	signerID     = "AKIASIGNER000000WXYZ"
	signerSecret = "signer-secret-0123456789abcdefghijklmnop"
	serviceID    = "AKIASERVICE00000ABCD"
	serviceSec   = "service-secret-0123456789abcdefghijklmno"
	sessionTok   = "session-token-0123456789"
)

var s3Env = env(map[string]string{
	"SIGNER_ID": signerID, "SIGNER_SECRET": signerSecret,
	"SERVICE_ID": serviceID, "SERVICE_SECRET": serviceSec, "SESSION_TOKEN": sessionTok,
	"ALICE_TOKEN": "alice-token-0123456789", "BOB_TOKEN": "bob-token-0123456789ab",
	"BLOBVALET_S3_SIGNER_KEY_ID": signerID, "BLOBVALET_S3_SIGNER_SECRET": signerSecret,
	"BLOBVALET_S3_SERVICE_KEY_ID": serviceID, "BLOBVALET_S3_SERVICE_SECRET": serviceSec,
	"BLOBVALET_STORAGE_KEY": testKey,
})

const s3Storage = `storage:
  kind: s3
  region: eu-west-1
  signer: {access_key_id_env: SIGNER_ID, secret_access_key_env: SIGNER_SECRET}
  service: {access_key_id_env: SERVICE_ID, secret_access_key_env: SERVICE_SECRET}
`

const s3Minimal = s3Storage + `auth: {tokens: [{user: alice, token_env: ALICE_TOKEN}]}
rules: [{name: r, users: ["*"], bucket: uploads, blobs: "users/{user}/**", methods: [PUT]}]
staging: {bucket: incoming}
`

func TestS3Config(t *testing.T) {
	cfg, err := Parse([]byte(s3Minimal), s3Env)
	if err != nil {
		t.Fatal(err)
	}
	st := &cfg.Storage
	if !st.IsS3() || st.Endpoint != "https://s3.eu-west-1.amazonaws.com" || st.Addressing != "virtual" || st.ACL != "private" || st.PathStyle() {
		t.Errorf("defaults: %+v", st)
	}
	if k := st.S3Signer(); k.AccessKeyID != signerID || k.SecretAccessKey != signerSecret || k.SessionToken != "" {
		t.Errorf("signer not read")
	}
	if k := st.S3Service(); k.AccessKeyID != serviceID || k.SecretAccessKey != serviceSec {
		t.Errorf("service not read")
	}
	if cfg.Staging.Container != "incoming" || strings.Join(cfg.Policy().Containers(), ",") != "uploads" || cfg.Rules[0].Container != "uploads" {
		t.Errorf("bucket: staging %q, rules %v", cfg.Staging.Container, cfg.Policy().Containers())
	}
	if got := st.BucketURL("incoming"); got != "https://incoming.s3.eu-west-1.amazonaws.com" {
		t.Errorf("BucketURL = %q", got)
	}
	if got := st.BucketHost("incoming"); got != "incoming.s3.eu-west-1.amazonaws.com" {
		t.Errorf("BucketHost = %q", got)
	}
	if cfg.Resolver() == nil || cfg.Events() != nil {
		t.Errorf("resolver %v, events %v", cfg.Resolver(), cfg.Events())
	}
	if got := st.KeyName(); got != "access key …ABCD" {
		t.Errorf("KeyName = %q", got)
	}

	// Path style on an emulator, a session token, container as on Azure.
	y := strings.Replace(s3Minimal, "region: eu-west-1", `region: us-east-1
  endpoint: "http://127.0.0.1:7070/"
  addressing: path
  acl: bucket-owner-full-control`, 1)
	y = strings.Replace(y, "secret_access_key_env: SERVICE_SECRET}", "secret_access_key_env: SERVICE_SECRET, session_token_env: SESSION_TOKEN}", 1)
	y = strings.Replace(y, "bucket: uploads", "container: up.loads", 1)
	cfg, err = Parse([]byte(y), s3Env)
	if err != nil {
		t.Fatal(err)
	}
	st = &cfg.Storage
	if st.Endpoint != "http://127.0.0.1:7070" || !st.PathStyle() || st.ACL != "bucket-owner-full-control" || st.S3Service().SessionToken != sessionTok {
		t.Errorf("storage %+v", st)
	}
	if got := st.BucketURL("incoming"); got != "http://127.0.0.1:7070/incoming" {
		t.Errorf("BucketURL = %q", got)
	}
	if got := st.BucketHost("incoming"); got != "127.0.0.1:7070" {
		t.Errorf("BucketHost = %q", got)
	}
	if got := cfg.Policy().Containers(); len(got) != 1 || got[0] != "up.loads" {
		t.Errorf("containers %v", got)
	}
}

// TestS3Errors: every wrong S3 setup is named by its field and says what
// to do, and no secret appears in the message.
func TestS3Errors(t *testing.T) {
	azureStorage := `storage: {account: devstoreaccount1, endpoint: "http://127.0.0.1:10000/devstoreaccount1", key_env: BLOBVALET_STORAGE_KEY}` + "\n"
	azure := strings.Replace(s3Minimal, s3Storage, azureStorage, 1)
	azure = strings.Replace(azure, "bucket: uploads", "container: uploads", 1)
	azure = strings.Replace(azure, "bucket: incoming", "container: incoming", 1)
	if _, err := Parse([]byte(azure), s3Env); err != nil {
		t.Fatalf("the Azure form of the test config: %v", err)
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown kind", strings.Replace(s3Minimal, "kind: s3", "kind: gcs", 1), `storage.kind: want azure or s3, got "gcs"`},
		{"no region", strings.Replace(s3Minimal, "  region: eu-west-1\n", "", 1), "storage.region: required with kind s3"},
		{"bad region", strings.Replace(s3Minimal, "region: eu-west-1", "region: EU West", 1), `storage.region: "EU West" is not a region name`},
		{"bad addressing", strings.Replace(s3Minimal, "region: eu-west-1", "region: eu-west-1\n  addressing: host", 1), `storage.addressing: want virtual (bucket in the host name; Fine Uploader S3 needs it to upload in chunks) or path, got "host"`},
		{"virtual on an IP", strings.Replace(s3Minimal, "region: eu-west-1", "region: eu-west-1\n  endpoint: \"http://127.0.0.1:7070\"", 1), "storage.addressing: virtual puts the bucket in the host name, which the endpoint's 127.0.0.1 (an IP address) cannot take"},
		{"http endpoint", strings.Replace(s3Minimal, "region: eu-west-1", "region: eu-west-1\n  endpoint: \"http://s3.example.com\"", 1), `storage.endpoint: "http://s3.example.com" uses http; only a loopback emulator may, use https`},
		{"endpoint with a path", strings.Replace(s3Minimal, "region: eu-west-1", "region: eu-west-1\n  endpoint: \"https://s3.example.com/incoming\"", 1), "storage.endpoint: \"https://s3.example.com/incoming\" must have no path"},
		{"endpoint with a key", strings.Replace(s3Minimal, "region: eu-west-1", "region: eu-west-1\n  endpoint: \"https://s3.example.com?X-Amz-Signature=1\"", 1), "must have no query"},
		{"public acl", strings.Replace(s3Minimal, "region: eu-west-1", "region: eu-west-1\n  acl: public-read", 1), `storage.acl: want private or bucket-owner-full-control (for buckets whose ACLs are disabled), got "public-read"`},
		{"no signer", strings.Replace(s3Minimal, "  signer: {access_key_id_env: SIGNER_ID, secret_access_key_env: SIGNER_SECRET}\n", "", 1), "storage.signer: required with kind s3: the S3 key that signs the browsers' uploads"},
		{"no service", strings.Replace(s3Minimal, "  service: {access_key_id_env: SERVICE_ID, secret_access_key_env: SERVICE_SECRET}\n", "", 1), "storage.service: required with kind s3: the S3 identity blobvalet acts as"},
		{"signer id unset", strings.Replace(s3Minimal, "access_key_id_env: SIGNER_ID", "access_key_id_env: NOPE", 1), "storage.signer: access key id: environment variable NOPE is not set or empty"},
		{"signer secret missing", strings.Replace(s3Minimal, ", secret_access_key_env: SIGNER_SECRET", "", 1), "storage.signer: secret access key: no secret: name an environment variable (secret_access_key_env) or a file (secret_access_key_file)"},
		{"service secret twice", strings.Replace(s3Minimal, "secret_access_key_env: SERVICE_SECRET", "secret_access_key_env: SERVICE_SECRET, secret_access_key_file: /nonexistent", 1), "storage.service: secret access key: set an environment variable or a file for the secret, not both"},
		{"signer with a token", strings.Replace(s3Minimal, "secret_access_key_env: SIGNER_SECRET}", "secret_access_key_env: SIGNER_SECRET, session_token_env: SESSION_TOKEN}", 1), "storage.signer: takes no session token: Fine Uploader S3 cannot send one"},
		{"not a key id", strings.Replace(s3Minimal, "access_key_id_env: SIGNER_ID", "access_key_id_env: SPACED", 1), "storage.signer: the access key id in environment variable SPACED is not one"},
		{"misspelt credential field", strings.Replace(s3Minimal, "access_key_id_env: SIGNER_ID", "access_key_env: SIGNER_ID", 1), "storage.signer.access_key_env: unknown field; did you mean access_key_id_env?"},
		{"azure field under s3", strings.Replace(s3Minimal, "kind: s3", "kind: s3\n  account: myaccount", 1), "storage.account: is for Azure storage; with kind s3 set region, endpoint, addressing, acl, signer and service instead"},
		{"azure key under s3", strings.Replace(s3Minimal, "kind: s3", "kind: s3\n  key_env: BLOBVALET_STORAGE_KEY", 1), "storage.key_env: is for Azure storage"},
		{"queue endpoint under s3", strings.Replace(s3Minimal, "kind: s3", "kind: s3\n  queue_endpoint: \"https://a.queue.core.windows.net\"", 1), "storage.queue_endpoint: is for Azure storage"},
		{"s3 field on azure", strings.Replace(azure, "key_env: BLOBVALET_STORAGE_KEY}", "key_env: BLOBVALET_STORAGE_KEY, region: eu-west-1}", 1), "storage.region: is for S3 storage: set storage.kind: s3, or remove this line for Azure"},
		{"s3 credential on azure", strings.Replace(azure, "key_env: BLOBVALET_STORAGE_KEY}", "key_env: BLOBVALET_STORAGE_KEY, signer: {access_key_id_env: SIGNER_ID}}", 1), "storage.signer: is for S3 storage"},
		{"bucket on azure", strings.Replace(azure, "container: uploads", "bucket: uploads", 1), "rules[0].bucket: is the S3 spelling of container: with Azure storage write container: uploads"},
		{"staging bucket on azure", strings.Replace(azure, "container: incoming", "bucket: incoming", 1), "staging.bucket: is the S3 spelling of container: with Azure storage write container: incoming"},
		{"bucket and container", strings.Replace(s3Minimal, "bucket: uploads", "bucket: uploads, container: uploads", 1), "rules[0].bucket: set container or bucket (its S3 spelling), not both"},
		{"bad bucket", strings.Replace(s3Minimal, "bucket: uploads", "bucket: Up_loads", 1), `rules[0].bucket: "Up_loads" is not a bucket name`},
		{"bucket of two dots", strings.Replace(s3Minimal, "bucket: uploads", "bucket: up..loads", 1), `rules[0].bucket: "up..loads" is not a bucket name`},
		{"bucket as an IP", strings.Replace(s3Minimal, "bucket: uploads", "bucket: 10.0.0.1", 1), `rules[0].bucket: "10.0.0.1" is an IP address, not a bucket name`},
		{"dotted bucket, virtual https", strings.Replace(s3Minimal, "bucket: uploads", "bucket: up.loads", 1), `rules[0].bucket: "up.loads" has dots, which break HTTPS with virtual addressing`},
		{"no staging bucket", strings.Replace(s3Minimal, "staging: {bucket: incoming}", "", 1), "staging.bucket: required: a private bucket for unverified uploads"},
		{"staging named by a rule", strings.Replace(s3Minimal, "staging: {bucket: incoming}", "staging: {bucket: uploads}", 1), `staging.bucket: "uploads" is named by a rule: the staging bucket must be one that no rule names`},
		{"bad staging bucket", strings.Replace(s3Minimal, "staging: {bucket: incoming}", "staging: {bucket: in}", 1), `staging.bucket: "in" is not a bucket name`},
		{"traditional endpoint", s3Minimal + "upload: {enabled: true, container: uploads}\n", "upload.enabled: Fine Uploader's traditional endpoint stores chunks as Azure blocks; it is not available with storage.kind s3"},
		{"webhook", s3Minimal + "webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN}\n", "webhook: with storage.kind s3, webhook events wait in Amazon SQS: set events.kind sqs"},
		{"rule webhook", strings.Replace(s3Minimal, "methods: [PUT]", "methods: [PUT], webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN}", 1), "rules[0].webhook: with storage.kind s3, webhook events wait in Amazon SQS"},
	}
	getenv := func(k string) string {
		if k == "SPACED" {
			return "AKIA EXAMPLE"
		}
		return s3Env(k)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), getenv)
			checkErr(t, err, tt.want)
			for _, secret := range []string{signerSecret, serviceSec, sessionTok} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %q", err)
				}
			}
		})
	}
}

// TestS3KeysFromFiles: each part of a credential may come from a file,
// read again by each Load, so that a rotated key needs only a reload.
func TestS3KeysFromFiles(t *testing.T) {
	dir := t.TempDir()
	idFile, secretFile, cfgFile := filepath.Join(dir, "id"), filepath.Join(dir, "secret"), filepath.Join(dir, "blobvalet.yaml")
	t.Setenv("ALICE_TOKEN", "alice-token-0123456789")
	t.Setenv("SIGNER_ID", signerID)
	t.Setenv("SIGNER_SECRET", signerSecret)
	y := strings.Replace(s3Minimal, "service: {access_key_id_env: SERVICE_ID, secret_access_key_env: SERVICE_SECRET}",
		fmt.Sprintf("service: {access_key_id_file: %s, secret_access_key_file: %s}", idFile, secretFile), 1)
	if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idFile, []byte(serviceID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{serviceSec, "rotated-secret-0123456789abcdefghijklmn"} {
		if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		if k := cfg.Storage.S3Service(); k.AccessKeyID != serviceID || k.SecretAccessKey != secret {
			t.Errorf("after writing a new secret to the file, Load has another")
		}
	}
}

// TestS3KeysNeverPrinted: a configuration printed whole, or a key on its
// own, shows no secret.
func TestS3KeysNeverPrinted(t *testing.T) {
	y := strings.Replace(s3Minimal, "secret_access_key_env: SERVICE_SECRET}", "secret_access_key_env: SERVICE_SECRET, session_token_env: SESSION_TOKEN}", 1)
	cfg, err := Parse([]byte(y), s3Env)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg.Storage), fmt.Sprint(cfg.Storage.S3Signer()), fmt.Sprintf("%#v", cfg.Storage.S3Service())} {
		for _, secret := range []string{signerSecret, serviceSec, sessionTok} {
			if strings.Contains(s, secret) {
				t.Errorf("printed configuration holds a secret: %s", s)
			}
		}
	}
	if got := fmt.Sprint(cfg.Storage.S3Signer()); got != "access key …WXYZ" {
		t.Errorf("signer printed as %q", got)
	}
}

func TestS3ExampleFile(t *testing.T) {
	data, err := os.ReadFile("../examples/blobvalet-s3.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, s3Env)
	if err != nil {
		t.Fatalf("examples/blobvalet-s3.yaml: %v", err)
	}
	if !cfg.Storage.IsS3() || cfg.Storage.Region != "eu-west-1" || cfg.Staging.Container != "uploads-incoming" {
		t.Errorf("storage %+v, staging %+v", cfg.Storage, cfg.Staging)
	}
	if got := strings.Join(cfg.Policy().Containers(), ","); got != "uploads,shared-files" {
		t.Errorf("buckets %s", got)
	}
	if cfg.Storage.S3Signer().AccessKeyID != signerID || cfg.Storage.S3Service().AccessKeyID != serviceID {
		t.Error("credentials not read")
	}
}

// TestS3WithSQSEvents: on S3 a webhook is accepted once its events wait in
// SQS.
func TestS3WithSQSEvents(t *testing.T) {
	cfg, err := Parse([]byte(s3Minimal+"webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN}\nevents: {kind: sqs, queue_url: \"https://sqs.eu-west-1.amazonaws.com/123456789012/uploads-events\"}\n"), s3Env)
	if err != nil {
		t.Fatal(err)
	}
	if ev := cfg.Events(); ev == nil || ev.SQS == nil || ev.Queue != "uploads-events" {
		t.Errorf("events: %+v", ev)
	}
}
