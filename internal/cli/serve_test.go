package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestServeUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), Process{}, []string{"serve"}, &out, &errOut); code != 2 {
		t.Errorf("serve without --config = %d, want 2", code)
	}
	if code := Run(context.Background(), Process{}, []string{"nope"}, &out, &errOut); code != 2 {
		t.Errorf("unknown command = %d, want 2", code)
	}
	dir := t.TempDir()
	os.WriteFile(dir+"/bad.yaml", []byte("listen: x\n"), 0o600)
	errOut.Reset()
	if code := Run(context.Background(), Process{}, []string{"serve", "--config", dir + "/bad.yaml"}, &out, &errOut); code != 1 {
		t.Errorf("bad config = %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "listen: want host:port") || !strings.Contains(errOut.String(), "storage.account: required") {
		t.Errorf("bad config message: %s", errOut.String())
	}
}

// TestServeRefusesBadCertificate checks and starts "blobvalet serve" with
// tls: naming files that are not there: both stop before serving and say
// which.
func TestServeRefusesBadCertificate(t *testing.T) {
	t.Setenv("TLS_STORAGE_KEY", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5")
	t.Setenv("TLS_ALICE_TOKEN", "alice-token-0123456789")
	dir := t.TempDir()
	path := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
shutdown: {drain: 100ms}
tls: {cert_file: %[1]s/tls.crt, key_file: %[1]s/tls.key}
storage: {account: acct, key_env: TLS_STORAGE_KEY}
auth: {tokens: [{user: alice, token_env: TLS_ALICE_TOKEN}]}
staging: {container: incoming}
rules: [{name: r, users: ["*"], container: uploads, blobs: "users/{user}/**", methods: [PUT]}]
`, dir))
	if code, _, stderr := checkCmd(t, "--config", path); code != 1 || !strings.Contains(stderr, "tls.crt: no such file or directory") {
		t.Errorf("check: exit %d, %s", code, stderr)
	}
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), Process{}, []string{"serve", "--config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr.String())
	}
	want := "tls: certificate " + dir + "/tls.crt and key " + dir + "/tls.key: open " + dir + "/tls.crt: no such file or directory"
	if !strings.Contains(stderr.String(), "blobvalet cannot start") || !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
	if strings.Contains(stderr.String(), `"listening"`) {
		t.Error("listened before refusing")
	}
}
