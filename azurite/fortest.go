package azurite

import (
	"context"
	"errors"
	"os"
	"testing"
)

// Require makes sure Azurite can be had, installing it if need be, without
// starting it: a test that starts its own (with other options) calls it
// first. It skips or fails as ForTest does.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv("AZURITE_BIN") != "" {
		return
	}
	_, err := Install(context.Background())
	if errors.Is(err, ErrNoNPM) && os.Getenv("CI") != "true" {
		t.Skipf("Azurite is not available: %v", err)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
}

// ForTest starts Azurite for a test, creates the named containers and stops
// it when the test ends. Where Azurite cannot be had (no npm), the test is
// skipped with a message saying how to get it, except under CI=true, where
// it fails.
func ForTest(t testing.TB, containers ...string) *Server {
	t.Helper()
	s, err := Start(context.Background(), Options{})
	if errors.Is(err, ErrNoNPM) && os.Getenv("CI") != "true" {
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
