package azurite

import (
	"context"
	"errors"
	"os"
	"testing"
)

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
