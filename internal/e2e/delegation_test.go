package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/corscfg"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/sas"
)

// The keyless setup against Azurite in HTTPS mode with "--oauth basic", on
// a product-style host: the SDK takes the account name from the host's first
// label when it signs user delegation SAS, so a path-style IP endpoint would
// sign for the wrong account.

// tlsFiles writes a self-signed certificate for the emulator's names.
func tlsFiles(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "blobvalet test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames:    []string{"devstoreaccount1.localhost", "localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// loopbackClient trusts the test certificate and sends *.localhost to
// 127.0.0.1, which this machine's resolver does not.
func loopbackClient(pool *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			if strings.HasSuffix(host, ".localhost") {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// entraToken is a token credential giving the kind of token Azurite's basic
// OAuth mode accepts (it checks form, issuer, audience and time).
type entraToken struct{}

func (entraToken) GetToken(_ context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"aud": "https://storage.azure.com", "iss": "https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/",
		"nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"oid": "11059fcc-5514-4800-b5f8-49808b9cfab6", "tid": "ab1f708d-50f6-404c-a006-d71b2ac7a606",
	})
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(claims) + "." + enc([]byte("not-checked-by-the-emulator"))
	return azcore.AccessToken{Token: tok, ExpiresOn: now.Add(time.Hour)}, nil
}

type keylessFixture struct {
	az       *azurite.Server
	client   *http.Client
	endpoint string
	config   Config
	cfg      *config.Config
	// options are the storage client options for blobvalet: Entra ID
	// tokens Azurite takes, through client.
	options app.Options
	svc     *service.Client
}

func newKeyless(t *testing.T) *keylessFixture {
	t.Helper()
	azuritetest.Require(t)
	certFile, keyFile, pool := tlsFiles(t)
	client := loopbackClient(pool)
	az, err := azurite.Start(context.Background(), azurite.Options{CertFile: certFile, KeyFile: keyFile, OAuth: true, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { az.Stop() })
	if err := az.CreateContainers(context.Background(), "uploads", "incoming"); err != nil {
		t.Fatal(err)
	}
	f := &keylessFixture{az: az, client: client, endpoint: fmt.Sprintf("https://devstoreaccount1.localhost:%d", az.Port())}
	setSecrets(t, az)
	f.config = Config{
		Storage: Storage{Account: "devstoreaccount1", Endpoint: f.endpoint, Credential: "azuread"},
		Auth:    Auth{Tokens: []Token{{User: "alice", TokenEnv: "TEST_ALICE_TOKEN"}}},
		Rules:   []Rule{{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: "users/{user}/**", Methods: []string{"PUT", "DELETE"}}},
		Staging: Staging{Container: "incoming"},
	}
	if f.cfg, err = config.Load(writeConfig(t, f.config)); err != nil {
		t.Fatal(err)
	}
	opts := &service.ClientOptions{ClientOptions: policy.ClientOptions{Transport: client}}
	f.options = app.Options{Token: entraToken{}, Client: opts}
	if f.svc, err = service.NewClient(f.endpoint+"/", entraToken{}, opts); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *keylessFixture) put(t *testing.T, uri, body string) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", uri, strings.NewReader(body))
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	req.Header.Set("Content-Type", "text/plain")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestKeylessUserDelegationSAS(t *testing.T) {
	f := newKeyless(t)
	srv := startStack(t, f.az, f.config, f.options).app
	w := httptest.NewRecorder()
	srv.Admin().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 200 {
		t.Fatalf("/readyz = %d %s", w.Code, w.Body)
	}
	issue := func(name string) (string, url.Values) {
		r := httptest.NewRequest("GET", "/sas?bloburi="+url.QueryEscape(f.endpoint+"/uploads/users/alice/"+name)+"&_method=PUT", nil)
		r.Header.Set("Authorization", "Bearer "+aliceToken)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("/sas = %d %s", w.Code, w.Body)
		}
		uri := w.Body.String()
		q, _ := url.ParseQuery(uri[strings.Index(uri, "?")+1:])
		return uri, q
	}
	uri, q := issue("keyless.txt")
	if q.Get("skoid") == "" || q.Get("sp") != "w" {
		t.Fatalf("not a user delegation SAS: %v", q)
	}
	if code := f.put(t, uri, "keyless"); code != 201 {
		t.Fatalf("upload with the user delegation SAS = %d", code)
	}
	// The upload-success check and blobvalet cors use the same credential.
	form := url.Values{"blob": {"users/alice/keyless.txt"}, "container": {f.endpoint + "/uploads"}, "uuid": {"u"}, "name": {"keyless.txt"}}
	r := httptest.NewRequest("POST", "/success", strings.NewReader(form.Encode()))
	r.Header.Set("Authorization", "Bearer "+aliceToken)
	w = httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("/success = %d %s", w.Code, w.Body)
	}
	if _, err := corscfg.Apply(context.Background(), f.svc, corscfg.Desired{Origins: []string{"https://app.example.com"}, MaxAge: time.Hour}); err != nil {
		t.Fatalf("cors apply with Entra ID: %v", err)
	}

	uri, q = issue("tampered.txt")
	sig := q.Get("sig")
	tampered := strings.Replace(uri, url.QueryEscape(sig), url.QueryEscape(flip(sig)), 1)
	if tampered == uri {
		t.Fatal("signature not found in the URI")
	}
	if code := f.put(t, tampered, "x"); code != 403 {
		t.Fatalf("upload with a tampered SAS = %d, want 403", code)
	}
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// TestDelegationKeyRenewal moves the clock to within the renewal margin of
// the key's expiry while SAS are being issued: the key is renewed in the
// background and no request fails.
func TestDelegationKeyRenewal(t *testing.T) {
	f := newKeyless(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	d := sas.NewDelegationSigner(f.cfg.Resolver(), f.svc, false, clock, 10*time.Minute, 8*time.Minute)
	if err := d.Ready(); err == nil {
		t.Fatal("ready before the first key")
	}
	if err := d.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx, 10*time.Millisecond)
	ref := blobref.Ref{Container: "uploads", Name: "users/alice/renewed.txt"}
	mu.Lock()
	now = now.Add(3 * time.Minute) // past expiry minus renewBefore
	mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for d.Fetches() < 2 {
		if _, err := d.Sign(ref, blobstore.Upload, clock().Add(time.Minute)); err != nil {
			t.Fatalf("a SAS request failed during renewal: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("key not renewed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	uri, err := d.Sign(ref, blobstore.Upload, clock().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(uri[strings.Index(uri, "?")+1:])
	se, _ := time.Parse(time.RFC3339, q.Get("se"))
	ske, _ := time.Parse(time.RFC3339, q.Get("ske"))
	if se.After(ske) {
		t.Errorf("SAS expiry %v outlives its key %v", se, ske)
	}
	if code := f.put(t, uri, "renewed"); code != 201 {
		t.Fatalf("upload with a SAS from the renewed key = %d", code)
	}
}
