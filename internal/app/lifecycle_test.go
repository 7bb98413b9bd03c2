package app

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/config"
)

// TestStopCutsOverdueRequests: a request that outlasts shutdown.timeout is
// logged and cut, and the stop is still orderly.
func TestStopCutsOverdueRequests(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	flight := newInFlight()
	srv := httptest.NewServer(flight.track(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})))
	defer srv.Close()
	defer close(release) // before Close, which waits for the handler
	go http.Get(srv.URL + "/success")
	<-started
	core, logs := observer.New(zap.InfoLevel)
	st := newReadiness(zap.NewNop())
	err := stop(st, config.Shutdown{Drain: config.Duration(time.Millisecond), Timeout: config.Duration(50 * time.Millisecond)}, nil, flight, zap.New(core), srv.Config)
	if err != nil {
		t.Fatalf("stop = %v, want an orderly stop", err)
	}
	if !st.report().Stopping {
		t.Error("readiness not failing after the stop")
	}
	cut := logs.FilterMessage("request cut: it outlasted shutdown.timeout").All()
	if len(cut) != 1 || cut[0].ContextMap()["path"] != "/success" {
		t.Errorf("logged %v, want the cut request", logs.All())
	}
}

// TestSecondSignalForcesStop: a signal during the drain stops at once.
func TestSecondSignalForcesStop(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	force := make(chan struct{})
	close(force) // the second signal: package main closes Signals.Force
	err := stop(newReadiness(zap.NewNop()), config.Shutdown{Drain: config.Duration(time.Hour), Timeout: config.Duration(time.Hour)}, force, newInFlight(), zap.NewNop(), srv.Config)
	if !errors.Is(err, errForced) {
		t.Fatalf("stop = %v, want %v", err, errForced)
	}
	if _, err := http.Get(srv.URL); err == nil {
		t.Error("still serving after a forced stop")
	}
}
