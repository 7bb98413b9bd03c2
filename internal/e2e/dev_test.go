package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/internal/app"
)

// TestDevRestartsCleanlyAndKeepsData runs "blobvalet dev" twice on one
// --data directory: stopping it stops Azurite, the second run starts
// cleanly, and the blobs are still there.
func TestDevRestartsCleanlyAndKeepsData(t *testing.T) {
	needBrowser(t) // the dev command needs what the browser tests need: npm
	dir := t.TempDir()
	start := func() (*app.Dev, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		env, err := app.StartDev(ctx, app.DevOptions{Listen: "127.0.0.1:0", DataDir: dir, Log: io.Discard})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		return env, cancel
	}
	env, stop := start()
	blob := env.Storage.Client().NewContainerClient("uploads").NewBlockBlobClient("users/alice/kept.txt")
	if _, err := blob.UploadBuffer(context.Background(), []byte("kept"), nil); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-env.Done(); err != nil {
		t.Fatalf("dev stopped with %v", err)
	}
	select {
	case <-env.Storage.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Azurite still running after dev stopped")
	}

	env, stop = start()
	defer func() { stop(); <-env.Done() }()
	if _, err := env.Storage.Client().NewContainerClient("uploads").NewBlobClient("users/alice/kept.txt").GetProperties(context.Background(), nil); err != nil {
		t.Fatalf("blob not kept across runs: %v", err)
	}
	// dev has one listener: the admin routes are on it too.
	for _, path := range []string{"/", "/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(env.URL + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
}

// TestDevCommand runs "blobvalet dev" as a user does and checks what it
// prints.
func TestDevCommand(t *testing.T) {
	needBrowser(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"dev", "--listen", "127.0.0.1:0"}, &out, &errOut) }()
	defer cancel()
	eventually(t, 60*time.Second, "dev to start", func() bool { return strings.Contains(out.String(), "Try:") })
	text := out.String()
	for _, re := range []string{`Demo page:  http://127\.0\.0\.1:\d+/`, `Storage:    http://127\.0\.0\.1:\d+/devstoreaccount1`, `alice \(group staff\)  token [0-9a-f]{48}`, `bob +token [0-9a-f]{48}`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s:\n%s", re, text)
		}
	}
	// The demo's tokens go only to the address it listens on: a page that
	// rebinds its own DNS name to 127.0.0.1 gets nothing.
	page := regexp.MustCompile(`Demo page:  (http://\S+)/`).FindStringSubmatch(text)[1]
	for host, want := range map[string]int{"": 200, "rebind.example:80": 421} {
		req, _ := http.NewRequest("GET", page+"/demo.json", nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("/demo.json with Host %q = %d, want %d", host, resp.StatusCode, want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("dev exited %d: %s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "sig=") {
		t.Error("dev logs hold a SAS signature")
	}
}

// TestDevS3Command runs "blobvalet dev --storage s3" as a user does: what
// it prints, and a demo page that is the S3 one.
func TestDevS3Command(t *testing.T) {
	needS3Browser(t) // what the S3 browser tests need: npm and versitygw
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"dev", "--storage", "s3", "--listen", "127.0.0.1:0"}, &out, &errOut) }()
	defer cancel()
	eventually(t, 60*time.Second, "dev to start", func() bool { return strings.Contains(out.String(), "Try:") })
	text := out.String()
	for _, re := range []string{`running on S3`, `Demo page:  http://127\.0\.0\.1:\d+/`, `Storage:    http://localhost:(\d+)   \(versitygw; bucket B at http://B\.localhost:\d+\)`, `staging: incoming`, `alice \(group staff\)  token [0-9a-f]{48}`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s:\n%s", re, text)
		}
	}
	page := regexp.MustCompile(`Demo page:  (http://\S+)/`).FindStringSubmatch(text)[1]
	resp, err := http.Get(page + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "/demo/s3-demo.js") {
		t.Errorf("the demo page at / is not the S3 one")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("dev exited %d: %s", code, errOut.String())
	}
	port := regexp.MustCompile(`http://localhost:(\d+)`).FindStringSubmatch(text)[1]
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
		c.Close()
		t.Errorf("versitygw still listens on %s after dev stopped", port)
	}
}

// TestDevS3KeepsItsSecret: dev on S3 signs with an account of its own
// and gives the page that key's id, never a secret, and logs no secret.
func TestDevS3KeepsItsSecret(t *testing.T) {
	needS3Browser(t)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	dev, err := app.StartDev(ctx, app.DevOptions{Listen: "127.0.0.1:0", Log: &logs, Storage: app.StorageS3})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	resp, err := http.Get(dev.URL + "/demo.json")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	settings, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cancel()
	<-dev.Done()
	<-dev.S3.Done()
	signer := dev.Cfg.Storage.S3Signer()
	if signer.AccessKeyID == dev.S3.AccessKey() {
		t.Error("the page signs with versitygw's root key, not an account of its own")
	}
	if !strings.Contains(string(settings), `"accessKey":"`+signer.AccessKeyID+`"`) {
		t.Errorf("/demo.json lacks the signing key's id: %s", settings)
	}
	for _, secret := range []string{signer.SecretAccessKey, dev.S3.SecretKey()} {
		if secret == "" || strings.Contains(string(settings), secret) || strings.Contains(logs.String(), secret) {
			t.Error("the page's settings or the logs hold an S3 secret key (or it is empty)")
		}
	}
}
