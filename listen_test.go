package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/config"
)

func TestPlainHTTPWarning(t *testing.T) {
	for _, tt := range []struct {
		listen string
		warn   bool
	}{
		{"127.0.0.1:8080", false},
		{"[::1]:8080", false},
		{"localhost:8080", false},
		{"0.0.0.0:8080", true},
		{":8080", true},
		{"10.0.0.5:8080", true},
	} {
		core, logs := observer.New(zap.InfoLevel)
		ln, _, err := secureListener(nil, &config.Config{Listen: tt.listen}, zap.New(core))
		if err != nil || ln != nil {
			t.Fatalf("%s: %v %v", tt.listen, ln, err)
		}
		warned := logs.FilterMessageSnippet("bearer tokens and SAS URIs cross the network in clear").FilterLevelExact(zap.WarnLevel).Len() == 1
		if warned != tt.warn {
			t.Errorf("listen %s: warned %v, want %v", tt.listen, warned, tt.warn)
		}
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
	if code := run(context.Background(), []string{"serve", "--config", path}, &stdout, &stderr); code != 1 {
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
