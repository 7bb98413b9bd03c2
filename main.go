// Command blobvalet lets web pages upload files straight from the browser to
// Azure Blob Storage: it answers Fine Uploader Azure's signature requests
// with SAS URIs scoped to one blob and one operation, checks finished
// uploads, and manages the storage account's CORS rules.
//
// main owns the process: it parses nothing but hands the arguments to
// package cli, and it is the one place that subscribes to signals.
package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/blobvalet/blobvalet/internal/cli"
)

// version is the release version, stamped into release builds with
// -ldflags "-X main.version=v1.2.3". Left empty, the module version from the
// build information is used ("(devel)" for a build from a work tree).
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, cli.Process{Version: version, Signals: newSignals()}, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signals implements cli.Signals for this process.
type signals struct {
	force      chan struct{}
	hangupOnce sync.Once
	hangup     chan struct{}
}

// newSignals counts the stop signals from the start: the first ends the
// context of main, the second closes force.
func newSignals() *signals {
	s := &signals{force: make(chan struct{}), hangup: make(chan struct{}, 1)}
	stops := make(chan os.Signal, 2)
	signal.Notify(stops, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-stops
		<-stops
		close(s.force)
	}()
	return s
}

// Force implements cli.Signals.
func (s *signals) Force() <-chan struct{} { return s.force }

// Hangup implements cli.Signals. SIGHUP is subscribed to only once a
// command asks: until then it ends the process, as by default.
func (s *signals) Hangup() <-chan struct{} {
	s.hangupOnce.Do(func() {
		hups := make(chan os.Signal, 1)
		signal.Notify(hups, syscall.SIGHUP)
		go func() {
			for range hups {
				select {
				case s.hangup <- struct{}{}:
				default: // one pending hangup covers any number
				}
			}
		}()
	})
	return s.hangup
}
