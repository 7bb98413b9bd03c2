package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSecondSignalForces: the first SIGTERM ends the run (main's context),
// the second closes Force, which cuts a stop short.
func TestSecondSignalForces(t *testing.T) {
	s := newSignals()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case <-s.Force():
		t.Fatal("forced by the first signal")
	case <-time.After(200 * time.Millisecond):
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case <-s.Force():
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not force")
	}
}
