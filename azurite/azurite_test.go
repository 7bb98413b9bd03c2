package azurite_test

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
)

func upload(t *testing.T, s *azurite.Server, container, name, body string) {
	t.Helper()
	_, err := s.Client().NewContainerClient(container).NewBlockBlobClient(name).UploadBuffer(context.Background(), []byte(body), nil)
	if err != nil {
		t.Fatal(err)
	}
}

func download(t *testing.T, s *azurite.Server, container, name string) string {
	t.Helper()
	resp, err := s.Client().NewContainerClient(container).NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestStartStop(t *testing.T) {
	s := azuritetest.Start(t, "one")
	if err := s.CreateContainers(context.Background(), "one", "two"); err != nil {
		t.Fatalf("CreateContainers again: %v", err)
	}
	upload(t, s, "two", "a/b.txt", "hello")
	if got := download(t, s, "two", "a/b.txt"); got != "hello" {
		t.Fatalf("read back %q", got)
	}
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") || !strings.Contains(s.ConnectionString(), "BlobEndpoint="+s.Endpoint()) {
		t.Errorf("endpoint %q, connection string without it", s.Endpoint())
	}
	pid := s.Pid()
	addr := strings.TrimSuffix(strings.TrimPrefix(s.Endpoint(), "http://"), "/"+s.Account())
	s.Stop()
	s.Stop()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after Stop")
	}
	if err := syscall.Kill(-pid, 0); err == nil {
		t.Errorf("process group %d still has processes", pid)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("port %s still open", addr)
	}
}

func TestDataDirKeepsBlobs(t *testing.T) {
	azuritetest.Require(t)
	dir := t.TempDir()
	port := freePortT(t)
	start := func() *azurite.Server {
		s, err := azurite.Start(context.Background(), azurite.Options{DataDir: dir, Port: port})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Stop() })
		return s
	}
	s1 := start()
	if err := s1.CreateContainers(context.Background(), "keep"); err != nil {
		t.Fatal(err)
	}
	upload(t, s1, "keep", "x", "persisted")
	s1.Stop()
	s2 := start()
	if got := download(t, s2, "keep", "x"); got != "persisted" {
		t.Fatalf("after restart the blob holds %q", got)
	}
}

func freePortT(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestBadBin(t *testing.T) {
	_, err := azurite.Start(context.Background(), azurite.Options{Bin: "/nonexistent/azurite-blob"})
	if err == nil || !strings.Contains(err.Error(), "AZURITE_BIN") {
		t.Fatalf("error %v, want a hint about AZURITE_BIN", err)
	}
	// A program that exits at once: the error carries its output.
	bin := t.TempDir() + "/fake"
	os.WriteFile(bin, []byte("#!/bin/sh\necho broken emulator >&2\nexit 3\n"), 0o755)
	_, err = azurite.Start(context.Background(), azurite.Options{Bin: bin})
	if err == nil || !strings.Contains(err.Error(), "broken emulator") {
		t.Fatalf("error %v, want the emulator's output", err)
	}
}

func TestInstallIsIdempotent(t *testing.T) {
	azuritetest.Require(t)
	if os.Getenv("AZURITE_BIN") != "" {
		t.Skip("AZURITE_BIN is set: Install is not used")
	}
	a, err := azurite.Install(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := azurite.Install(context.Background(), nil)
	if err != nil || a != b {
		t.Fatalf("second Install = %q, %v; first %q", b, err, a)
	}
	if _, err := os.Stat(b); err != nil {
		t.Fatal(err)
	}
	t.Logf("second Install took %v", time.Since(start))
}

// TestQueueService: with Queue set, Azurite's queue service answers the
// azqueue SDK at QueueEndpoint with the account key, and Stop ends it with
// the blob service.
func TestQueueService(t *testing.T) {
	s := azuritetest.StartWithQueue(t, "cc1")
	qe := s.QueueEndpoint()
	if !strings.HasPrefix(qe, "http://127.0.0.1:") || !strings.HasSuffix(qe, "/devstoreaccount1") || qe == s.Endpoint() {
		t.Fatalf("QueueEndpoint %q (blob %q)", qe, s.Endpoint())
	}
	if !strings.Contains(s.ConnectionString(), "QueueEndpoint="+qe) {
		t.Errorf("connection string %q lacks the queue endpoint", s.ConnectionString())
	}
	cred, err := azqueue.NewSharedKeyCredential(s.Account(), s.Key())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := azqueue.NewServiceClientWithSharedKeyCredential(qe+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.CreateQueue(ctx, "events-q1", nil); err != nil {
		t.Fatal(err)
	}
	q := svc.NewQueueClient("events-q1")
	if _, err := q.EnqueueMessage(ctx, "aGVsbG8=", nil); err != nil {
		t.Fatal(err)
	}
	resp, err := q.DequeueMessage(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Messages) != 1 || *resp.Messages[0].MessageText != "aGVsbG8=" {
		t.Fatalf("dequeued %+v", resp.Messages)
	}
	upload(t, s, "cc1", "b", "blob still works")

	pids := []int{s.Pid(), s.QueuePid()}
	addr := strings.TrimSuffix(strings.TrimPrefix(qe, "http://"), "/"+s.Account())
	s.Stop()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("processes still running after Stop")
	}
	for _, pid := range pids {
		if err := syscall.Kill(-pid, 0); err == nil {
			t.Errorf("process group %d still has processes", pid)
		}
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("queue port %s still open", addr)
	}
}

// TestNoQueueByDefault: without Queue, there is no queue endpoint.
func TestNoQueueByDefault(t *testing.T) {
	s := azuritetest.Start(t)
	if s.QueueEndpoint() != "" || s.QueuePid() != 0 || strings.Contains(s.ConnectionString(), "QueueEndpoint") {
		t.Fatalf("queue endpoint %q, pid %d without Options.Queue", s.QueueEndpoint(), s.QueuePid())
	}
}
