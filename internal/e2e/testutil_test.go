package e2e

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// storedBlob reads a blob's content type and metadata (keys in lower
// case), failing the test if it is not there.
func storedBlob(t *testing.T, svc *service.Client, container, name string) (contentType string, md map[string]string) {
	t.Helper()
	props, err := svc.NewContainerClient(container).NewBlobClient(name).GetProperties(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	md = map[string]string{}
	for k, v := range props.Metadata {
		md[strings.ToLower(k)] = *v
	}
	if props.ContentType != nil {
		contentType = *props.ContentType
	}
	return contentType, md
}

// eventually polls cond until it holds, failing the test with what it was
// waiting for if it does not within the time given. It is the tests' one
// polling loop.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("gave up after %v waiting for %s", within, what)
		}
	}
}
