package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/server"
)

// The secrets of the test configuration. setSecrets puts them in the
// environment, under the names the configuration gives.
const (
	aliceToken    = "alice-token-0123456789"
	bobToken      = "bob-token-0123456789ab"
	alice2Token   = "alice-second-token-0123456789"
	webhookSecret = "webhook-secret-0123456789"
)

// setSecrets sets the environment variables that the test configuration
// names, az's key included, for the test.
func setSecrets(t testing.TB, az *azurite.Server) {
	t.Helper()
	for k, v := range map[string]string{
		"TEST_STORAGE_KEY": az.Key(), "TEST_ALICE_TOKEN": aliceToken, "TEST_ALICE_TOKEN2": alice2Token,
		"TEST_BOB_TOKEN": bobToken, "TEST_WEBHOOK_SECRET": webhookSecret,
	} {
		t.Setenv(k, v)
	}
}

// Config is a blobvalet configuration file as a test writes it: the fields
// of package config that the tests set, and only those that are set are
// written.
type Config struct {
	Listen      string    `yaml:"listen,omitempty"`
	AdminListen string    `yaml:"admin_listen,omitempty"`
	Shutdown    *Shutdown `yaml:"shutdown,omitempty"`
	TLS         *TLS      `yaml:"tls,omitempty"`
	Storage     Storage   `yaml:"storage"`
	CORSOrigins []string  `yaml:"cors_origins,omitempty"`
	Auth        Auth      `yaml:"auth"`
	SAS         *SAS      `yaml:"sas,omitempty"`
	Rules       []Rule    `yaml:"rules"`
	Staging     Staging   `yaml:"staging"`
	Success     *Success  `yaml:"success,omitempty"`
	Webhook     *Webhook  `yaml:"webhook,omitempty"`
	Events      *Events   `yaml:"events,omitempty"`
	Limits      *Limits   `yaml:"limits,omitempty"`
	Upload      *Upload   `yaml:"upload,omitempty"`
}

// Events is the events section: the events queue on SQS.
type Events struct {
	Kind               string `yaml:"kind"`
	QueueURL           string `yaml:"queue_url"`
	Region             string `yaml:"region,omitempty"`
	AccessKeyIDEnv     string `yaml:"access_key_id_env,omitempty"`
	SecretAccessKeyEnv string `yaml:"secret_access_key_env,omitempty"`
}

// Upload is the upload section.
type Upload struct {
	Enabled     bool   `yaml:"enabled"`
	Container   string `yaml:"container,omitempty"`
	Name        string `yaml:"name,omitempty"`
	MaxChunk    string `yaml:"max_chunk,omitempty"`
	MaxInFlight int    `yaml:"max_in_flight,omitempty"`
	PerUser     int    `yaml:"per_user,omitempty"`
}

// Storage is the storage section.
type Storage struct {
	Account       string `yaml:"account"`
	Endpoint      string `yaml:"endpoint,omitempty"`
	QueueEndpoint string `yaml:"queue_endpoint,omitempty"`
	KeyEnv        string `yaml:"key_env,omitempty"`
	Keys          []Key  `yaml:"keys,omitempty"`
	Credential    string `yaml:"credential,omitempty"`
}

// Key is one of storage.keys.
type Key struct {
	Name   string `yaml:"name"`
	Env    string `yaml:"env"`
	Active bool   `yaml:"active,omitempty"`
}

// Auth is the auth section.
type Auth struct {
	Tokens []Token `yaml:"tokens"`
}

// Token is one of auth.tokens.
type Token struct {
	User     string   `yaml:"user"`
	TokenEnv string   `yaml:"token_env"`
	Groups   []string `yaml:"groups,omitempty"`
}

// Rule is one of the rules.
type Rule struct {
	Name         string   `yaml:"name"`
	Users        []string `yaml:"users,omitempty"`
	Groups       []string `yaml:"groups,omitempty"`
	Container    string   `yaml:"container"`
	Blobs        string   `yaml:"blobs"`
	Methods      []string `yaml:"methods"`
	Overwrite    bool     `yaml:"overwrite,omitempty"`
	MaxSize      string   `yaml:"max_size,omitempty"`
	ContentTypes []string `yaml:"content_types,omitempty"`
	Webhook      *Webhook `yaml:"webhook,omitempty"`
}

// Webhook is the webhook section, or a rule's.
type Webhook struct {
	URL         string   `yaml:"url"`
	SecretEnv   string   `yaml:"secret_env"`
	Timeout     Duration `yaml:"timeout,omitempty"`
	MaxAttempts int      `yaml:"max_attempts,omitempty"`
}

// Staging is the staging section.
type Staging struct {
	Container string `yaml:"container"`
}

// Success is the success section.
type Success struct {
	Timeout     Duration `yaml:"timeout,omitempty"`
	MaxInFlight int      `yaml:"max_in_flight,omitempty"`
	// DefaultMaxSize is written as a size, such as "1KiB".
	DefaultMaxSize string `yaml:"default_max_size,omitempty"`
}

// Limits is the limits section.
type Limits struct {
	Success *RateLimit `yaml:"success,omitempty"`
}

// RateLimit is one of the limits.
type RateLimit struct {
	Rate  string `yaml:"rate"`
	Burst int    `yaml:"burst"`
}

// Shutdown is the shutdown section.
type Shutdown struct {
	Drain Duration `yaml:"drain,omitempty"`
}

// TLS is the tls section.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// SAS is the sas section.
type SAS struct {
	Lifetime Duration `yaml:"lifetime,omitempty"`
}

// Duration is written as config.Duration reads it: "100ms", "2s".
type Duration time.Duration

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// IsZero makes omitempty leave out a zero Duration.
func (d Duration) IsZero() bool { return d == 0 }

// testConfig is the configuration most tests run on az: alice (staff) and
// bob, each with a folder of their own in uploads (1 MiB, images and text),
// staff may drop anything into shared, anyone into shared's inbox/drop/.
func testConfig(az *azurite.Server) Config {
	return Config{
		Storage: Storage{Account: az.Account(), Endpoint: az.Endpoint(), KeyEnv: "TEST_STORAGE_KEY"},
		Auth: Auth{Tokens: []Token{
			{User: "alice", TokenEnv: "TEST_ALICE_TOKEN", Groups: []string{"staff"}},
			{User: "bob", TokenEnv: "TEST_BOB_TOKEN"},
		}},
		Rules: []Rule{
			{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: "users/{user}/**", Methods: []string{"PUT", "DELETE"},
				MaxSize: "1MiB", ContentTypes: []string{"image/*", "text/plain"}},
			{Name: "staff-drop", Groups: []string{"staff"}, Container: "shared", Blobs: "**", Methods: []string{"PUT"}, Overwrite: true},
			{Name: "team-drop", Users: []string{"*"}, Container: "shared", Blobs: "inbox/drop/**", Methods: []string{"PUT"}},
		},
		Staging: Staging{Container: "incoming"},
	}
}

// rule returns the rule named name, failing the test if there is none.
func (c *Config) rule(t *testing.T, name string) *Rule {
	t.Helper()
	for i := range c.Rules {
		if c.Rules[i].Name == name {
			return &c.Rules[i]
		}
	}
	t.Fatalf("no rule %s in the configuration", name)
	return nil
}

// writeTo writes c as YAML to path, written then renamed into place, as
// editors and configuration managers do.
func (c Config) writeTo(t testing.TB, path string) {
	t.Helper()
	writeFileAtomic(t, path, marshal(t, c))
}

// marshal returns c as YAML.
func marshal(t testing.TB, c Config) []byte {
	t.Helper()
	data, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFileAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes c to a file of the test's and returns its path.
func writeConfig(t testing.TB, c Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blobvalet.yaml")
	c.writeTo(t, path)
	return path
}

// stack is blobvalet wired as serve wires it (app.New), configured by a
// file, on Azurite, with its public handler served over HTTP with serve's
// timeouts. With an events queue (storage.queue_endpoint) it delivers
// webhook events too. Readiness is refreshed only when a test says so.
type stack struct {
	az      *azurite.Server
	path    string // the configuration file
	cfg     *config.Config
	app     *app.App
	metrics *server.Metrics
	url     string       // blobvalet's public listener
	client  *http.Client // what a browser would use: generous deadline
	// clockShift moves the clock the SAS expiry is set by.
	clockShift atomic.Int64
}

// newStack is startStack on a fresh Azurite with the containers of
// testConfig.
func newStack(t testing.TB, edit func(*Config)) *stack {
	t.Helper()
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	c := testConfig(az)
	if edit != nil {
		edit(&c)
	}
	return startStack(t, az, c, app.Options{})
}

// startStack writes c, sets the secrets it names and starts blobvalet on it
// with o (by default: serve's options and a logger that drops everything).
func startStack(t testing.TB, az *azurite.Server, c Config, o app.Options) *stack {
	t.Helper()
	setSecrets(t, az)
	s := &stack{az: az, path: writeConfig(t, c)}
	cfg, err := config.Load(s.path)
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = server.NewMetrics(prometheus.NewRegistry())
	}
	if o.Now == nil {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(s.clockShift.Load())) }
	}
	delivers := c.Storage.QueueEndpoint != "" || c.Events != nil
	if delivers && o.DeliveryBackoff == nil {
		o.DeliveryBackoff, o.DeliveryPoll = func(int) time.Duration { return testBackoff }, testPoll
	}
	o.ConfigPath = s.path
	s.metrics = o.Metrics
	ctx, cancel := context.WithCancel(context.Background())
	s.app, err = app.New(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		if delivers {
			s.app.Deliver(ctx)
		}
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done; s.app.Close() })
	ts := httptest.NewUnstartedServer(s.app)
	ts.Config = app.NewHTTPServer(s.app, o.Log)
	ts.Start()
	t.Cleanup(ts.Close)
	s.url, s.client = ts.URL, &http.Client{Timeout: 45 * time.Second}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// send sends a request to blobvalet's public listener as a browser would,
// with the headers given, and returns the status and the body.
func (s *stack) send(t testing.TB, method, target string, body io.Reader, header map[string]string) (int, []byte) {
	t.Helper()
	r, err := http.NewRequest(method, s.url+target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := s.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// write replaces the stack's configuration file with c; reload reads it.
func (s *stack) write(t *testing.T, c Config) {
	t.Helper()
	c.writeTo(t, s.path)
}

// reload reloads the configuration as SIGHUP does.
func (s *stack) reload(ctx context.Context) error {
	return s.app.Reload(ctx)
}

// Quick retries of event deliveries for tests; the queue counts in whole
// seconds.
const (
	testBackoff = time.Second
	testPoll    = 100 * time.Millisecond
)
