package config

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/azurite"
)

const testKey = azurite.WellKnownKey

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var goodEnv = env(map[string]string{
	"BLOBVALET_STORAGE_KEY": testKey,
	"ALICE_TOKEN":           "alice-token-0123456789",
	"BOB_TOKEN":             "bob-token-0123456789ab",
})

func TestExampleFile(t *testing.T) {
	data, err := os.ReadFile("../examples/blobvalet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data, goodEnv)
	if err != nil {
		t.Fatalf("examples/blobvalet.yaml: %v", err)
	}
	if got := time.Duration(cfg.SAS.Lifetime); got != 10*time.Minute {
		t.Errorf("lifetime = %v", got)
	}
	rules := cfg.Policy().Rules()
	if len(rules) != 2 || rules[0].Constraints.MaxSize != 10<<20 || rules[1].Overwrite != true {
		t.Errorf("rules = %+v", rules)
	}
	if got := cfg.Policy().Containers(); strings.Join(got, ",") != "uploads,shared" {
		t.Errorf("containers = %v", got)
	}
	if cfg.Auth.Tokens[0].Secret() != "alice-token-0123456789" {
		t.Error("token not read")
	}
	if cfg.Storage.KeyName() != "key" {
		t.Errorf("key name %q", cfg.Storage.KeyName())
	}
	if s := cfg.Staging; s.Container != "incoming" || time.Duration(s.MaxAge) != 24*time.Hour || time.Duration(s.SweepEvery) != 10*time.Minute {
		t.Errorf("staging %+v", s)
	}
}

const minimal = `
storage: {account: devstoreaccount1, endpoint: "http://127.0.0.1:10000/devstoreaccount1", key_env: BLOBVALET_STORAGE_KEY}
auth: {tokens: [{user: alice, token_env: ALICE_TOKEN}]}
rules: [{name: r, users: ["*"], container: uploads, blobs: "users/{user}/**", methods: [PUT]}]
staging: {container: incoming}
`

// TestErrors checks that each mistake is named by its field and says what
// to do, and that no secret value appears in the message.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", minimal + "listn: x\n", "listn: unknown field; did you mean listen? (line 6)"},
		{"unknown nested field", minimal + "sas: {lifetim: 10m}\n", "sas.lifetim: unknown field; did you mean lifetime? (line 6)"},
		{"unknown field in a list", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], overwrit: true", 1), "rules[0].overwrit: unknown field; did you mean overwrite?"},
		{"unknown field, nothing near", minimal + "zzzzzzzz: 1\n", "zzzzzzzz: unknown field (line 6)"},
		{"wrong type", minimal + "sas: {lifetime: [1m]}\n", "sas.lifetime: want a duration such as 10m"},
		{"wrong type, not a mapping", minimal + "sas: 10m\n", "sas: want a mapping of fields"},
		{"upload without container", minimal + "upload: {enabled: true}\n", "upload.container: required with upload.enabled"},
		{"upload to a container no rule names", minimal + "upload: {enabled: true, container: other}\n", "upload.container: \"other\" is named by no rule"},
		{"upload name without uuid", minimal + "upload: {enabled: true, container: uploads, name: \"users/{user}/x\"}\n", "upload.name: want {uuid} exactly once"},
		{"upload name, unknown placeholder", minimal + "upload: {enabled: true, container: uploads, name: \"{filename}/{uuid}\"}\n", "upload.name: unknown placeholder {filename}"},
		{"upload name, user after uuid", minimal + "upload: {enabled: true, container: uploads, name: \"{uuid}/{user}\"}\n", "upload.name: {user} must come before {uuid}"},
		{"upload chunk beyond a block", minimal + "upload: {enabled: true, container: uploads, max_chunk: 5GiB}\n", "upload.max_chunk: want at most 3.9 GiB"},
		{"upload per user beyond all", minimal + "upload: {enabled: true, container: uploads, max_in_flight: 4, per_user: 5}\n", "upload.per_user: want between 1 and upload.max_in_flight (4)"},
		{"bad listen", minimal + "listen: 8080\n", "listen: want host:port"},
		{"bad admin listen", minimal + "admin_listen: 9090\n", "admin_listen: want host:port"},
		{"admin on listen", minimal + "listen: 0.0.0.0:8080\nadmin_listen: 0.0.0.0:8080\n", "admin_listen: 0.0.0.0:8080 is also listen"},
		{"shutdown within the write timeout", minimal + "shutdown: {timeout: 20s}\n", "shutdown.timeout: want more than the write timeout (30s), so that no request in flight is cut, got 20s"},
		{"negative drain", minimal + "shutdown: {drain: -1s}\n", "shutdown.drain: want a duration above zero"},
		{"no key", strings.Replace(minimal, "key_env: BLOBVALET_STORAGE_KEY", "key_env: NOPE", 1), "storage: environment variable NOPE is not set"},
		{"no credential", strings.Replace(minimal, ", key_env: BLOBVALET_STORAGE_KEY", "", 1), "storage: no credential"},
		{"bad key", strings.Replace(minimal, "key_env: BLOBVALET_STORAGE_KEY", "key_env: ALICE_TOKEN", 1), "is not base64"},
		{"http endpoint", strings.Replace(minimal, "http://127.0.0.1:10000", "http://example.com", 1), "only a loopback emulator may, use https"},
		{"endpoint with sas", strings.Replace(minimal, "devstoreaccount1\"", "devstoreaccount1?sig=x\"", 1), "must have no query"},
		{"emulator compat is gone", strings.Replace(minimal, `key_env: BLOBVALET_STORAGE_KEY}`, "key_env: BLOBVALET_STORAGE_KEY, emulator_compat: true}", 1), "storage.emulator_compat: no longer exists: uploads are staged and overwrite: false is enforced when blobvalet promotes them"},
		{"no staging", strings.Replace(minimal, "staging: {container: incoming}", "", 1), "staging.container: required"},
		{"staging named by a rule", strings.Replace(minimal, "staging: {container: incoming}", "staging: {container: uploads}", 1), `staging.container: "uploads" is named by a rule`},
		{"staging max age too short", strings.Replace(minimal, "staging: {container: incoming}", "staging: {container: incoming, max_age: 30m}", 1), "staging.max_age: want at least 1h0m0s"},
		{"sweep too often", strings.Replace(minimal, "staging: {container: incoming}", "staging: {container: incoming, sweep_every: 5s}", 1), "staging.sweep_every: want between 1m0s"},
		{"bad account", strings.Replace(minimal, "account: devstoreaccount1", "account: Dev_Store", 1), "storage.account"},
		{"short token", minimal, "shorter than 16"},
		{"no auth", strings.Replace(minimal, "auth: {tokens: [{user: alice, token_env: ALICE_TOKEN}]}", "", 1), "auth: no way to authenticate"},
		{"bad cidr", minimal + "auth: {trusted_header: {user: X-User, trusted_proxies: [10.0.0.1]}}\n", "auth: given more than once (line 6); keep one"},
		{"bad container", strings.Replace(minimal, "container: uploads", "container: Up_loads", 1), "rules[0].container"},
		{"bad pattern", strings.Replace(minimal, `"users/{user}/**"`, `"users/{usr}/**"`, 1), "rules[0].blobs"},
		{"bad method", strings.Replace(minimal, "methods: [PUT]", "methods: [GET]", 1), "rules[0].methods[0]"},
		{"no methods", strings.Replace(minimal, "methods: [PUT]", "methods: []", 1), "rules[0].methods: required"},
		{"no subjects", strings.Replace(minimal, `users: ["*"], `, "", 1), "rules[0]: set users"},
		{"no rules", strings.Replace(minimal, `rules: [{name: r, users: ["*"], container: uploads, blobs: "users/{user}/**", methods: [PUT]}]`, "", 1), "rules: no rules"},
		{"lifetime unit", minimal + "sas: {lifetime: 600}\n", "want a duration with a unit"},
		{"lifetime too long", minimal + "sas: {lifetime: 2h}\n", "sas.lifetime: want between"},
		{"bad size", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], max_size: 10", 1), "rules[0].max_size: want a size with a unit"},
		{"NaN size", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], max_size: NaNMiB", 1), "rules[0].max_size: want a size with a unit"},
		{"zero size", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], max_size: 0B", 1), "rules[0].max_size: want a size of at least 1B"},
		{"tiny size", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], max_size: 1e-9KiB", 1), "rules[0].max_size: want a size of at least 1B"},
		{"negative duration", minimal + "sas: {lifetime: -10m}\n", "sas.lifetime: want a duration above zero"},
		{"zero duration", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], lifetime: 0s", 1), "rules[0].lifetime: want a duration above zero"},
		{"bad content type", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], content_types: [image]", 1), "content_types[0]"},
		{"bad origin", minimal + "cors_origins: [\"http://a.example/\"]\n", "cors_origins[0]: origin \"http://a.example/\": want scheme://host[:port]"},
		{"wildcard origin", minimal + "cors_origins: [\"https://*.example.com\"]\n", "cors_origins[0]: origin \"https://*.example.com\": wildcards inside an origin are not supported"},
		{"http issuer", strings.Replace(minimal, "auth: {tokens: [{user: alice, token_env: ALICE_TOKEN}]}", "auth: {jwt: {issuer: \"http://login.example.com\", audience: a}}", 1), "auth.jwt.issuer: \"http://login.example.com\" uses http"},
		{"http jwks url", strings.Replace(minimal, "auth: {tokens: [{user: alice, token_env: ALICE_TOKEN}]}", "auth: {jwt: {issuer: \"https://login.example.com\", jwks_url: \"http://login.example.com/keys\", audience: a}}", 1), "auth.jwt.jwks_url: \"http://login.example.com/keys\" uses http"},
		{"http webhook", minimal + "webhook: {url: \"http://hooks.example.com/x\", secret_env: ALICE_TOKEN}\n", "webhook.url: \"http://hooks.example.com/x\" uses http"},
		{"http rule webhook", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], webhook: {url: \"http://10.0.0.1/x\", secret_env: ALICE_TOKEN}", 1), "rules[0].webhook.url: \"http://10.0.0.1/x\" uses http"},
		{"bad log level", minimal + "log: {level: loud}\n", "log.level"},
		{"bad queue name", minimal + "webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN, queue: Events_Q}\n", "webhook.queue: queue name \"Events_Q\""},
		{"queue name too long for its dead letters", minimal + "webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN, queue: " + strings.Repeat("q", 60) + "}\n", "webhook.queue: queue name"},
		{"negative attempts", minimal + "webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN, max_attempts: -1}\n", "webhook.max_attempts: want between 1 and 100"},
		{"rule webhook with a queue", strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN, queue: mine}", 1), "rules[0].webhook: queue and max_attempts are set once"},
		{"http queue endpoint", strings.Replace(minimal, "key_env:", "queue_endpoint: \"http://queues.example.com/a\", key_env:", 1), "storage.queue_endpoint: \"http://queues.example.com/a\" uses http"},
		{"success timeout past the write timeout", minimal + "success: {timeout: 30s}\n", "success.timeout: want between 1s and 25s (the server's write timeout, 30s, less 5s to write the answer), got 30s"},
		{"success timeout too short", minimal + "success: {timeout: 10ms}\n", "success.timeout: want between 1s and 25s"},
		{"negative max in flight", minimal + "success: {max_in_flight: -3}\n", "success.max_in_flight: want between 1 and 10000"},
	}
	getenv := env(map[string]string{"BLOBVALET_STORAGE_KEY": testKey, "ALICE_TOKEN": "alice-token-0123456789"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := getenv
			if tt.name == "short token" {
				getenv = env(map[string]string{"BLOBVALET_STORAGE_KEY": testKey, "ALICE_TOKEN": "short-secret"})
			}
			_, err := Parse([]byte(tt.yaml), getenv)
			checkErr(t, err, tt.want)
		})
	}
}

// TestAllErrorsAtOnce: a file with several mistakes, of type and of value,
// gets them all named in one error.
func TestAllErrorsAtOnce(t *testing.T) {
	y := strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], max_size: NaNMiB, lifetime: 10", 1) +
		"sas: {lifetim: 10m}\nlisten: 8080\nlog: {level: [loud]}\n"
	_, err := Parse([]byte(y), goodEnv)
	for _, want := range []string{"rules[0].max_size:", "rules[0].lifetime:", "sas.lifetim: unknown field", "listen: want host:port", "log.level:"} {
		checkErr(t, err, want)
	}
	if err != nil && strings.Count(err.Error(), "\n") != 4 {
		t.Errorf("want 5 problems, one a line, got:\n%v", err)
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	for _, secret := range []string{testKey, "alice-token-0123456789", "short-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks a secret: %q", err)
		}
	}
}

// TestOriginsCanonical: cors_origins are kept as browsers send them, so an
// origin written in capitals or with its default port still matches.
func TestOriginsCanonical(t *testing.T) {
	cfg, err := Parse([]byte(minimal+"cors_origins: [\"HTTPS://App.Example.com:443\", \"*\"]\n"), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.CORSOrigins, " "); got != "https://app.example.com *" {
		t.Errorf("cors_origins = %q", got)
	}
}

// TestHTTPOnLoopback: plain http is fine for an issuer or a webhook on the
// same machine.
func TestHTTPOnLoopback(t *testing.T) {
	y := strings.Replace(minimal, "auth: {tokens: [{user: alice, token_env: ALICE_TOKEN}]}",
		"auth: {jwt: {issuer: \"http://127.0.0.1:5556\", jwks_url: \"http://localhost:5556/keys\", audience: a}}", 1) +
		"webhook: {url: \"http://[::1]:9000/hook\", secret_env: ALICE_TOKEN}\n"
	if _, err := Parse([]byte(y), goodEnv); err != nil {
		t.Fatal(err)
	}
}

// TestUserIDNamespaces: two identity sources share one user-id namespace,
// so a config with two is refused unless it says they name the same people.
func TestUserIDNamespaces(t *testing.T) {
	jwt := `, jwt: {issuer: "https://login.example.com", audience: a}`
	proxy := `, trusted_header: {user: X-User, trusted_proxies: ["10.0.0.0/8"]}`
	for name, extra := range map[string]string{"tokens and jwt": jwt, "tokens and proxy": proxy, "all three": jwt + proxy} {
		y := strings.Replace(minimal, "token_env: ALICE_TOKEN}]}", "token_env: ALICE_TOKEN}]"+extra+"}", 1)
		_, err := Parse([]byte(y), goodEnv)
		checkErr(t, err, "auth.shared_user_ids: auth.tokens and ")
		y = strings.Replace(y, "token_env: ALICE_TOKEN}]", "token_env: ALICE_TOKEN}], shared_user_ids: true", 1)
		if _, err := Parse([]byte(y), goodEnv); err != nil {
			t.Errorf("%s with shared_user_ids: %v", name, err)
		}
	}
}

// TestFileKeyReadOnEachLoad: a key in a file is read again by each Load, so
// rotating it needs no restart, only a reload.
func TestFileKeyReadOnEachLoad(t *testing.T) {
	dir := t.TempDir()
	keyFile, cfgFile := filepath.Join(dir, "key"), filepath.Join(dir, "blobvalet.yaml")
	t.Setenv("ALICE_TOKEN", "alice-token-0123456789")
	y := strings.Replace(minimal, "key_env: BLOBVALET_STORAGE_KEY", "key_file: "+keyFile, 1)
	if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{testKey, "bmV3IGtleQ=="} {
		if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.StdEncoding.EncodeToString(cfg.Storage.key); got != key {
			t.Errorf("after writing a new key to the file, Load signs with another key")
		}
	}
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key2")
	if err := os.WriteFile(file, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(minimal, "key_env: BLOBVALET_STORAGE_KEY", "keys: [{name: key1, env: BLOBVALET_STORAGE_KEY}, {name: key2, file: "+file+", active: true}]", 1)
	cfg, err := Parse([]byte(y), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage.KeyName() != "key2" {
		t.Errorf("active key %q, want key2", cfg.Storage.KeyName())
	}
	y = strings.Replace(y, ", active: true", "", 1)
	_, err = Parse([]byte(y), goodEnv)
	checkErr(t, err, "exactly one key must be active: true, found 0")
}

func TestByteSize(t *testing.T) {
	for s, want := range map[string]ByteSize{"10MiB": 10 << 20, "500KB": 500e3, "1.5GiB": 3 << 29, "1B": 1, "12 MB": 12e6} {
		got, err := ParseByteSize(s)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"10", "MiB", "-1MiB", "1e30GiB", "ten MiB", "NaNMiB", "InfKiB", "+Inf B", "0B", "0.5B", "1e-9KiB", "-0B", "1.5B"} {
		if _, err := ParseByteSize(s); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", s)
		}
	}
	if got := ByteSize(10 << 20).String(); got != "10 MiB" {
		t.Errorf("ByteSize.String = %q", got)
	}
}

// FuzzParse checks that any file gives either an error or a configuration
// whose policy and resolver are ready, and never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "sas: {lifetim: 10m}\nlisten: 8080\n"))
	f.Add([]byte(strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], max_size: NaNMiB, lifetime: 10", 1)))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte(minimal + "sas: &x {lifetime: *x}\nrules: &y [*y]\n"))
	f.Add([]byte(s3Minimal))
	f.Add([]byte(strings.Replace(s3Minimal, "bucket: uploads", "container: uploads, bucket: x", 1)))
	for _, name := range []string{"../examples/blobvalet.yaml", "../examples/blobvalet-s3.yaml"} {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Secret files are read as named; keep the fuzzer off devices.
		if bytes.Contains(data, []byte("file")) || bytes.Contains(data, []byte("/dev")) {
			return
		}
		cfg, err := Parse(data, s3Env)
		if err != nil {
			return
		}
		if cfg.Policy() == nil || cfg.Resolver() == nil || len(cfg.Policy().Rules()) == 0 {
			t.Fatalf("accepted a configuration that is not ready: %+v", cfg)
		}
		if st := &cfg.Storage; st.IsS3() && (st.S3Signer().SecretAccessKey == "" || st.S3Service().SecretAccessKey == "" || st.Region == "" || st.Endpoint == "") {
			t.Fatalf("accepted an S3 configuration without its credentials, region or endpoint")
		}
		for _, r := range cfg.Policy().Rules() {
			if r.Constraints.MaxSize < 0 || r.Lifetime < 0 {
				t.Fatalf("rule %s: max_size %d, lifetime %v", r.Name, r.Constraints.MaxSize, r.Lifetime)
			}
		}
	})
}

// TestEventsAndSuccessDefaults: with a webhook, events wait in the default
// queue of the account's Queue service; without any, there is no queue.
// The success budget has its defaults.
func TestEventsAndSuccessDefaults(t *testing.T) {
	getenv := env(map[string]string{"BLOBVALET_STORAGE_KEY": testKey, "ALICE_TOKEN": "alice-token-0123456789"})
	cfg, err := Parse([]byte(minimal), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Events(); e != nil {
		t.Errorf("no webhook, yet events %+v", e)
	}
	if s := cfg.Success; time.Duration(s.Timeout) != 20*time.Second || s.MaxInFlight != 64 {
		t.Errorf("success %+v", s)
	}
	if got := cfg.Storage.QueueEndpoint; got != "https://devstoreaccount1.queue.core.windows.net" {
		t.Errorf("queue endpoint %q", got)
	}
	rule := strings.Replace(minimal, "methods: [PUT]", "methods: [PUT], webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN}", 1)
	cfg, err = Parse([]byte(strings.Replace(rule, "key_env:", "queue_endpoint: \"http://127.0.0.1:10001/devstoreaccount1/\", key_env:", 1)), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Events(); e == nil || e.Queue != "blobvalet-events" || e.MaxAttempts != 10 || e.Endpoint != "http://127.0.0.1:10001/devstoreaccount1" {
		t.Errorf("a rule's webhook: events %+v", e)
	}
	cfg, err = Parse([]byte(minimal+"webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN, queue: uploads-events, max_attempts: 3}\nsuccess: {timeout: 25s, max_in_flight: 5}\n"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Events(); e == nil || e.Queue != "uploads-events" || e.MaxAttempts != 3 {
		t.Errorf("events %+v", e)
	}
	if s := cfg.Success; time.Duration(s.Timeout) != 25*time.Second || s.MaxInFlight != 5 {
		t.Errorf("success %+v", s)
	}
}

// TestREADMEConfig parses the README's minimal configuration as a reader
// would copy it, so the front page never shows a file serve refuses.
func TestREADMEConfig(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no yaml block")
	}
	cfg, err := Parse([]byte(block), goodEnv)
	if err != nil {
		t.Fatalf("README.md's configuration: %v", err)
	}
	if cfg.Staging.Container != "incoming" || len(cfg.Policy().Rules()) != 1 {
		t.Errorf("README.md's configuration read as %+v", cfg)
	}
}

// TestThumbnail: a rule's thumbnail setting is parsed once, when the file
// is checked.
func TestThumbnail(t *testing.T) {
	for _, tt := range []struct {
		written string
		want    Thumbnail
	}{
		{"", Thumbnail{Kind: ThumbnailSAS}},
		{"sas", Thumbnail{Kind: ThumbnailSAS}},
		{"none", Thumbnail{Kind: ThumbnailNone}},
		{"https://cdn.example.com/{container}/{blob}", Thumbnail{Kind: ThumbnailTemplate, Template: "https://cdn.example.com/{container}/{blob}"}},
	} {
		data := minimal
		if tt.written != "" {
			data = strings.Replace(minimal, "methods: [PUT]}", "methods: [PUT], thumbnail: \""+tt.written+"\"}", 1)
		}
		cfg, err := Parse([]byte(data), goodEnv)
		if err != nil {
			t.Fatalf("%q: %v", tt.written, err)
		}
		if got := cfg.Rules[0].Thumbnail; got.Kind != tt.want.Kind || got.Template != tt.want.Template {
			t.Errorf("%q: %+v, want %+v", tt.written, got, tt.want)
		}
	}
	_, err := Parse([]byte(strings.Replace(minimal, "methods: [PUT]}", "methods: [PUT], thumbnail: small}", 1)), goodEnv)
	checkErr(t, err, `rules[0].thumbnail: want "sas", "none" or a URL template`)
}
