// Package s3emutest starts the versitygw S3 emulator for tests, as
// net/http/httptest starts HTTP servers: the production binary never links
// package testing.
//
// Tests that need versitygw skip under "go test -short". Otherwise, where
// versitygw cannot be had (no go command to build it), they skip with a
// message that says how to get it, except under CI=true, where they fail:
// CI never skips silently. The first run builds versitygw once, which
// takes a few minutes; it says so on stderr.
package s3emutest

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/blobvalet/blobvalet/s3emu"
)

// SkipShort skips t under "go test -short", saying why.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs versitygw: skipped under -short")
	}
}

// Require makes sure versitygw can be had, building it if need be, without
// starting it: a test that starts its own (with other options) calls it
// first. It skips or fails as Start does.
func Require(t testing.TB) {
	t.Helper()
	SkipShort(t)
	if os.Getenv("VERSITYGW_BIN") != "" {
		return
	}
	_, err := s3emu.Install(context.Background(), os.Stderr)
	skipOrFail(t, err)
}

// Start starts versitygw for a test, creates the named buckets and stops
// it when the test ends.
func Start(t testing.TB, buckets ...string) *s3emu.Server {
	t.Helper()
	return StartOptions(t, s3emu.Options{}, buckets...)
}

// StartOptions is Start with the given options; a nil Progress reports a
// first-run build on stderr.
func StartOptions(t testing.TB, opts s3emu.Options, buckets ...string) *s3emu.Server {
	t.Helper()
	SkipShort(t)
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	s, err := s3emu.Start(context.Background(), opts)
	skipOrFail(t, err)
	t.Cleanup(func() { s.Stop() })
	if err := s.CreateBuckets(context.Background(), buckets...); err != nil {
		t.Fatal(err)
	}
	return s
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, s3emu.ErrNoGo) && os.Getenv("CI") != "true" {
		t.Skipf("versitygw is not available: %v", err)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
}
