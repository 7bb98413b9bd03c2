package e2e

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/tlsconfig/tlstest"
)

// TestSIGHUPRotatesCertificate runs "blobvalet serve" with tls:, replaces
// the certificate files, sends the process a real SIGHUP, and checks that
// a new connection gets the new certificate.
func TestSIGHUPRotatesCertificate(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "incoming")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	now := time.Now()
	ca := tlstest.NewCA(t, now)
	ca.Issue(t, certFile, keyFile, 1, now.Add(-time.Hour), now.Add(24*time.Hour))
	c := reloadConfig(az, 10*time.Minute, "TEST_ALICE_TOKEN", "key1")
	c.Listen, c.AdminListen, c.Shutdown = "127.0.0.1:0", "127.0.0.1:0", &Shutdown{Drain: Duration(100 * time.Millisecond)}
	c.TLS = &TLS{CertFile: certFile, KeyFile: keyFile}
	path := writeConfig(t, c)

	p := startProcess(t, []string{"TEST_STORAGE_KEY=" + az.Key(), "TEST_ALICE_TOKEN=" + aliceToken}, "serve", "--config", path)
	addr := p.waitLog(t, regexp.MustCompile(`"listening","addr":"([^"]+)"`), 20*time.Second)[1]
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
	if !strings.Contains(p.stderr.String(), `"serving HTTPS"`) || strings.Contains(p.stderr.String(), "cross the network in clear") {
		t.Errorf("start-up log:\n%s", p.stderr.String())
	}

	ca.Issue(t, certFile, keyFile, 2, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`"certificate reloaded"[^\n]*"serial":"2"`), 20*time.Second)
	if got := serial(); got != 2 {
		t.Errorf("serial %d after SIGHUP, want 2", got)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, p.stderr.String())
	}
}
