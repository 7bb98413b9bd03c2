package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDevRestartsCleanlyAndKeepsData runs "blobvalet dev" twice on one
// --data directory: stopping it stops Azurite, the second run starts
// cleanly, and the blobs are still there.
func TestDevRestartsCleanlyAndKeepsData(t *testing.T) {
	needBrowser(t) // the dev command needs what the browser tests need: npm
	dir := t.TempDir()
	start := func() (*devEnv, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		env, err := startDev(ctx, devOptions{listen: "127.0.0.1:0", dataDir: dir, log: io.Discard})
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
	if err := <-env.done; err != nil {
		t.Fatalf("dev stopped with %v", err)
	}
	select {
	case <-env.Storage.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Azurite still running after dev stopped")
	}

	env, stop = start()
	defer func() { stop(); <-env.done }()
	if _, err := env.Storage.Client().NewContainerClient("uploads").NewBlobClient("users/alice/kept.txt").GetProperties(context.Background(), nil); err != nil {
		t.Fatalf("blob not kept across runs: %v", err)
	}
	resp, err := http.Get(env.URL + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("demo page: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestDevCommand runs "blobvalet dev" as a user does and checks what it
// prints.
func TestDevCommand(t *testing.T) {
	needBrowser(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"dev", "--listen", "127.0.0.1:0"}, &out, &errOut) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Try:") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("dev did not start: %s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	text := out.String()
	for _, re := range []string{`Demo page:  http://127\.0\.0\.1:\d+/`, `Storage:    http://127\.0\.0\.1:\d+/devstoreaccount1`, `alice \(group staff\)  token [0-9a-f]{48}`, `bob +token [0-9a-f]{48}`} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s:\n%s", re, text)
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
