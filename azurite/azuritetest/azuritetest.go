// Package azuritetest starts the Azurite storage emulator for tests, as
// net/http/httptest starts HTTP servers: the production binary never links
// package testing.
//
// Tests that need Azurite skip under "go test -short". Otherwise, where
// Azurite cannot be had (no npm), they skip with a message that says how to
// get it, except under CI=true, where they fail: CI never skips silently.
package azuritetest

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/blobvalet/blobvalet/azurite"
)

// SkipShort skips t under "go test -short", saying why.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Azurite: skipped under -short")
	}
}

// Require makes sure Azurite can be had, installing it if need be, without
// starting it: a test that starts its own (with other options) calls it
// first. It skips or fails as Start does.
func Require(t testing.TB) {
	t.Helper()
	SkipShort(t)
	if os.Getenv("AZURITE_BIN") != "" {
		return
	}
	_, err := azurite.Install(context.Background(), nil)
	if errors.Is(err, azurite.ErrNoNPM) && os.Getenv("CI") != "true" {
		t.Skipf("Azurite is not available: %v", err)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
}

// Start starts Azurite for a test, creates the named containers and stops
// it when the test ends.
func Start(t testing.TB, containers ...string) *azurite.Server {
	t.Helper()
	return StartOptions(t, azurite.Options{}, containers...)
}

// StartWithQueue is Start with the queue service too: see
// azurite.Server.QueueEndpoint.
func StartWithQueue(t testing.TB, containers ...string) *azurite.Server {
	t.Helper()
	return StartOptions(t, azurite.Options{Queue: true}, containers...)
}

// StartOptions is Start with the given options.
func StartOptions(t testing.TB, opts azurite.Options, containers ...string) *azurite.Server {
	t.Helper()
	SkipShort(t)
	s, err := azurite.Start(context.Background(), opts)
	if errors.Is(err, azurite.ErrNoNPM) && os.Getenv("CI") != "true" {
		t.Skipf("Azurite is not available: %v", err)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { s.Stop() })
	if err := s.CreateContainers(context.Background(), containers...); err != nil {
		t.Fatal(err)
	}
	return s
}
