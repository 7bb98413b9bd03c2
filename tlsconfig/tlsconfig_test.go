package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/tlsconfig/tlstest"
)

var epoch = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// serve serves HTTPS with c on a loopback port and returns its address.
func serve(t *testing.T, c *Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go srv.Serve(tls.NewListener(ln, c.Config()))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// servedSerial connects anew and returns the serial of the certificate
// the server presents, verified against the CA.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) int64 {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, Time: func() time.Time { return epoch }},
		DisableKeepAlives: true,
	}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
}

func files(t *testing.T) (certFile, keyFile string) {
	dir := t.TempDir()
	return filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
}

func TestServesTLS(t *testing.T) {
	authority := tlstest.NewCA(t, epoch)
	certFile, keyFile := files(t)
	authority.Issue(t, certFile, keyFile, 100, epoch.Add(-time.Hour), epoch.Add(90*24*time.Hour))
	c, err := Load(certFile, keyFile, func() time.Time { return epoch })
	if err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, serve(t, c), authority.Pool); got != 100 {
		t.Errorf("served serial %d, want 100", got)
	}
}

func TestRefusedAtLoad(t *testing.T) {
	authority := tlstest.NewCA(t, epoch)
	now := func() time.Time { return epoch }
	t.Run("missing", func(t *testing.T) {
		certFile, keyFile := files(t)
		_, err := Load(certFile, keyFile, now)
		wantErr(t, err, "tls: certificate "+certFile+" and key "+keyFile+": open "+certFile+": no such file or directory")
	})
	t.Run("key of another certificate", func(t *testing.T) {
		certFile, keyFile := files(t)
		otherCert, otherKey := files(t)
		authority.Issue(t, certFile, keyFile, 1, epoch.Add(-time.Hour), epoch.Add(time.Hour))
		authority.Issue(t, otherCert, otherKey, 2, epoch.Add(-time.Hour), epoch.Add(time.Hour))
		_, err := Load(certFile, otherKey, now)
		wantErr(t, err, "private key does not match public key")
	})
	t.Run("expired", func(t *testing.T) {
		certFile, keyFile := files(t)
		authority.Issue(t, certFile, keyFile, 1, epoch.Add(-48*time.Hour), epoch.Add(-24*time.Hour))
		_, err := Load(certFile, keyFile, now)
		wantErr(t, err, "tls: certificate "+certFile+" expired on 2029-12-31T12:00:00Z: renew it")
	})
	t.Run("not yet valid", func(t *testing.T) {
		certFile, keyFile := files(t)
		authority.Issue(t, certFile, keyFile, 1, epoch.Add(time.Hour), epoch.Add(48*time.Hour))
		_, err := Load(certFile, keyFile, now)
		wantErr(t, err, "is valid only from 2030-01-01T13:00:00Z")
	})
	t.Run("not PEM", func(t *testing.T) {
		certFile, keyFile := files(t)
		os.WriteFile(certFile, []byte("not a certificate"), 0o600)
		os.WriteFile(keyFile, []byte("not a key"), 0o600)
		_, err := Load(certFile, keyFile, now)
		wantErr(t, err, "failed to find any PEM data in certificate input")
	})
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one containing %q", err, want)
	}
}

func TestRotation(t *testing.T) {
	authority := tlstest.NewCA(t, epoch)
	certFile, keyFile := files(t)
	authority.Issue(t, certFile, keyFile, 1, epoch.Add(-time.Hour), epoch.Add(24*time.Hour))
	c, err := Load(certFile, keyFile, func() time.Time { return epoch })
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c)
	if got := servedSerial(t, addr, authority.Pool); got != 1 {
		t.Fatalf("served serial %d, want 1", got)
	}

	authority.Issue(t, certFile, keyFile, 2, epoch.Add(-time.Hour), epoch.Add(90*24*time.Hour))
	if got := servedSerial(t, addr, authority.Pool); got != 1 {
		t.Errorf("served serial %d before the reload, want 1", got)
	}
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, authority.Pool); got != 2 {
		t.Errorf("served serial %d after the reload, want 2", got)
	}

	// A bad pair on reload (here the new certificate with the old key, as
	// when one file is replaced before the other) keeps the current one.
	spareCert, spareKey := files(t)
	authority.Issue(t, spareCert, spareKey, 3, epoch.Add(-time.Hour), epoch.Add(time.Hour))
	data, _ := os.ReadFile(spareCert)
	os.WriteFile(certFile, data, 0o600)
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
		t.Errorf("reload of a mismatched pair: %v", err)
	}
	if got := servedSerial(t, addr, authority.Pool); got != 2 {
		t.Errorf("served serial %d after a failed reload, want 2", got)
	}
	if got := c.Leaf().SerialNumber.Int64(); got != 2 {
		t.Errorf("Leaf serial %d, want 2", got)
	}
}

func TestOldTLSRefused(t *testing.T) {
	authority := tlstest.NewCA(t, epoch)
	certFile, keyFile := files(t)
	authority.Issue(t, certFile, keyFile, 1, epoch.Add(-time.Hour), epoch.Add(time.Hour))
	c, err := Load(certFile, keyFile, func() time.Time { return epoch })
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, c)
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: authority.Pool, MinVersion: v, MaxVersion: v, Time: func() time.Time { return epoch }})
		if err == nil {
			conn.Close()
			t.Errorf("%s client accepted", tls.VersionName(v))
			continue
		}
		if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("%s client: %v, want a protocol version alert", tls.VersionName(v), err)
		}
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: authority.Pool, MaxVersion: tls.VersionTLS12, Time: func() time.Time { return epoch }})
	if err != nil {
		t.Fatalf("TLS 1.2 client: %v", err)
	}
	conn.Close()
}
