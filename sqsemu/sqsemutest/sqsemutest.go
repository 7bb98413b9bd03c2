// Package sqsemutest starts the goaws SQS emulator for tests, as
// net/http/httptest starts HTTP servers: the production binary never links
// package testing.
//
// Tests that need goaws skip under "go test -short". Otherwise, where goaws
// cannot be had (no go command to build it), they skip with a message that
// says how to get it, except under CI=true, where they fail: CI never skips
// silently. The first run builds goaws once, in seconds; it says so on
// stderr.
package sqsemutest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/blobvalet/blobvalet/sqsemu"
)

// SkipShort skips t under "go test -short", saying why.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs goaws: skipped under -short")
	}
}

// Start starts goaws for a test and stops it when the test ends.
func Start(t testing.TB) *sqsemu.Server {
	t.Helper()
	SkipShort(t)
	s, err := sqsemu.Start(context.Background(), sqsemu.Options{Progress: os.Stderr})
	skipOrFail(t, err)
	t.Cleanup(func() { s.Stop() })
	return s
}

var shared struct {
	once sync.Once
	s    *sqsemu.Server
	err  error
}

// Shared returns one goaws for the whole test binary, started by the first
// test that asks: tests that create queues of their own, with names no
// other test uses, share it. It runs until the test binary exits (the
// kernel ends it then, on Linux).
func Shared(t testing.TB) *sqsemu.Server {
	t.Helper()
	SkipShort(t)
	shared.once.Do(func() {
		shared.s, shared.err = sqsemu.Start(context.Background(), sqsemu.Options{Progress: os.Stderr})
	})
	skipOrFail(t, shared.err)
	select {
	case <-shared.s.Done():
		t.Fatal("the shared goaws has exited")
	default:
	}
	return shared.s
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, sqsemu.ErrNoGo) && os.Getenv("CI") != "true" {
		t.Skipf("goaws is not available: %v", err)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
}
