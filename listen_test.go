package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/tlsconfig/tlstest"
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
		wrap, _, err := secureListener(&config.Config{Listen: tt.listen}, zap.New(core))
		if err != nil || wrap(nil) != nil {
			t.Fatalf("%s: %v", tt.listen, err)
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

// TestSIGHUPRotatesCertificate runs "blobvalet serve" with tls:, replaces
// the certificate files, sends the process a real SIGHUP, and checks that
// a new connection gets the new certificate.
func TestSIGHUPRotatesCertificate(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "incoming")
	t.Setenv("TEST_STORAGE_KEY", az.Key())
	t.Setenv("TEST_ALICE_TOKEN", aliceToken)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	now := time.Now()
	ca := tlstest.NewCA(t, now)
	ca.Issue(t, certFile, keyFile, 1, now.Add(-time.Hour), now.Add(24*time.Hour))
	path := filepath.Join(dir, "blobvalet.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nshutdown: {drain: 100ms}\ntls: {cert_file: %s, key_file: %s}\n", certFile, keyFile)+
		reloadConfig(az, "10m", "TEST_ALICE_TOKEN", "key1")), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--config", path}, io.Discard, &stderr) }()
	waitFor := func(re *regexp.Regexp) []string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if m := re.FindStringSubmatch(stderr.String()); m != nil {
				return m
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("no %s in the log:\n%s", re, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	addr := waitFor(regexp.MustCompile(`"listening","addr":"([^"]+)"`))[1]
	serial := func() int64 {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}, DisableKeepAlives: true}}
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("healthz over TLS: %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d at start, want 1", got)
	}
	if !strings.Contains(stderr.String(), `"serving HTTPS"`) || strings.Contains(stderr.String(), "cross the network in clear") {
		t.Errorf("start-up log:\n%s", stderr.String())
	}

	ca.Issue(t, certFile, keyFile, 2, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(regexp.MustCompile(`"certificate reloaded"[^\n]*"serial":"2"`))
	if got := serial(); got != 2 {
		t.Errorf("serial %d after SIGHUP, want 2", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, stderr.String())
	}
}
