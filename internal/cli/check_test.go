package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/config"
)

// checkCmd runs "blobvalet check" with args and returns the exit code and
// what it printed.
func checkCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), Process{}, append([]string{"check"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blobvalet.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const checkConfig = `
listen: "0.0.0.0:8080"
storage: {account: %s, endpoint: %q, key_env: CHECK_STORAGE_KEY}
cors_origins: ["https://app.example.com"]
auth:
  tokens:
    - {user: alice, token_env: CHECK_ALICE_TOKEN}
staging: {container: incoming}
rules:
  - {name: own-folder, users: ["*"], container: uploads, blobs: "users/{user}/**", methods: [PUT, DELETE]}
`

func TestCheckGoodConfig(t *testing.T) {
	t.Setenv("CHECK_STORAGE_KEY", base64.StdEncoding.EncodeToString([]byte("not the real key")))
	t.Setenv("CHECK_ALICE_TOKEN", "alice-token-0123456789")
	path := writeConfig(t, fmt.Sprintf(checkConfig, "myaccount", "https://myaccount.blob.core.windows.net"))
	code, stdout, stderr := checkCmd(t, "--config", path)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"config ok: " + path, "listen:     0.0.0.0:8080", "account myaccount at https://myaccount.blob.core.windows.net, credential shared_key",
		"containers: uploads", "1 static tokens", "rules:      1 (own-folder)", "not checked: storage"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "alice-token-0123456789") {
		t.Error("the summary shows a secret")
	}
}

func TestCheckBadConfigListsEveryProblem(t *testing.T) {
	path := writeConfig(t, `
listen: "nonsense"
storage: {account: "Not_An_Account", key_env: CHECK_UNSET_KEY}
auth:
  tokens:
    - {user: alice, token_env: CHECK_UNSET_TOKEN}
sas: {lifetime: 2h}
rules:
  - {name: r, users: ["*"], container: uploads, blobs: "users/{user}/**"}
`)
	code, stdout, stderr := checkCmd(t, "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if strings.Contains(stdout, "config ok") {
		t.Errorf("said ok: %s", stdout)
	}
	for _, want := range []string{"listen:", "storage.account:", "storage: environment variable CHECK_UNSET_KEY is not set",
		"auth.tokens[0]: environment variable CHECK_UNSET_TOKEN", "sas.lifetime:", "rules[0].methods:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestCheckUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--config"}, {"--nope"}, {"--config", "a.yaml", "extra"}} {
		if code, _, stderr := checkCmd(t, args...); code != 2 {
			t.Errorf("check %q: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
	code, _, stderr := checkCmd(t, "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
}

// TestCheckExampleConfigs keeps the example configurations valid, and the
// one beside the example page safe to run as written.
func TestCheckExampleConfigs(t *testing.T) {
	t.Setenv("BLOBVALET_STORAGE_KEY", base64.StdEncoding.EncodeToString([]byte("not the real key")))
	t.Setenv("ALICE_TOKEN", "alice-token-0123456789")
	t.Setenv("BOB_TOKEN", "bob-token-0123456789ab")
	for _, path := range []string{"../../examples/blobvalet.yaml", "../../examples/page/blobvalet.yaml"} {
		if code, stdout, stderr := checkCmd(t, "--config", path); code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", path, code, stdout, stderr)
		}
	}
	cfg, err := config.Load("../../examples/page/blobvalet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.TrustedHeader != nil || cfg.Storage.EmulatorCompat != nil || !strings.HasPrefix(cfg.Storage.Endpoint, "https://") {
		t.Error("examples/page/blobvalet.yaml must be safe as written: no trusted_header, https storage")
	}
	if host, _, _ := net.SplitHostPort(cfg.Listen); !config.IsLoopback("http://" + host) {
		t.Errorf("examples/page/blobvalet.yaml listens on %s: keep it on loopback behind a TLS proxy", cfg.Listen)
	}
}
