package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/config"
)

// Server timeouts. A signature request is small and quick; these only stop
// slow or stuck clients from holding connections. The write timeout is
// config.ServerWriteTimeout, which shutdown.timeout must exceed.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = config.ServerWriteTimeout
	idleTimeout       = 2 * time.Minute
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML); see examples/blobvalet.yaml")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: blobvalet serve --config FILE")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %v\n", err)
		return 1
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %v\n", err)
		return 1
	}
	defer log.Sync()
	log.Info("blobvalet starting", currentBuild().LogFields()...)
	// A second SIGTERM or SIGINT, during the stop, forces it.
	stops := make(chan os.Signal, 2)
	signal.Notify(stops, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stops)

	// Everything is checked before anything listens: a load balancer never
	// sees a port that cannot serve.
	secure, reloadCert, err := secureListener(cfg, log)
	if err != nil {
		log.Error("blobvalet cannot start", zap.Error(err))
		return 1
	}
	rl, err := newReloader(ctx, *path, cfg, log)
	if err != nil {
		log.Error("blobvalet cannot start", zap.Error(err))
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", zap.String("listen", cfg.Listen), zap.Error(err))
		return 1
	}
	admin, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		ln.Close()
		log.Error("cannot listen", zap.String("admin_listen", cfg.AdminListen), zap.Error(err))
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = rl.reload(ctx) // it logs what it did
				reloadCert()
			}
		}
	}()
	go rl.sweep(ctx)
	go rl.deliver(ctx)
	go rl.watch(ctx)

	flight := newInFlight()
	public := newHTTPServer(flight.track(rl), log)
	adm := newHTTPServer(flight.track(rl.admin()), log)
	failed := make(chan error, 2)
	go func() { failed <- public.Serve(secure(ln)) }()
	go func() { failed <- adm.Serve(admin) }()
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("admin", admin.Addr().String()))
	select {
	case err := <-failed:
		public.Close()
		adm.Close()
		log.Error("blobvalet stopped", zap.Error(err))
		return 1
	case <-ctx.Done():
	}
	// The signal that ended ctx reaches stops too: only one after it forces.
	fromSignal := context.Cause(ctx) != context.Canceled //nolint:errorlint // identity: a cancel without a cause has Canceled itself as its cause; a signal's cause also matches errors.Is(Canceled)
	if err := stop(rl.status, cfg.Shutdown, forced(stops, fromSignal), flight, log, public, adm); err != nil {
		log.Error("blobvalet stopped", zap.Error(err))
		return 1
	}
	log.Info("blobvalet stopped")
	return 0
}

func newHTTPServer(h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}

// forced returns a channel closed by the next signal on stops, skipping the
// first when it is the one that began the stop.
func forced(stops <-chan os.Signal, skipFirst bool) <-chan struct{} {
	force := make(chan struct{})
	go func() {
		for range stops {
			if skipFirst {
				skipFirst = false
				continue
			}
			close(force)
			return
		}
	}()
	return force
}

// errForced is a stop cut short by a second signal.
var errForced = errors.New("second signal: stopped at once, requests in flight cut")

// stop stops serving in order: readiness fails at once, serving goes on for
// the drain (while load balancers take this instance out), then no new
// connection is accepted and the requests in flight get sh.Timeout to
// finish; any still running then is logged and cut. A signal on force
// stops at once.
func stop(st *status, sh config.Shutdown, force <-chan struct{}, flight *inFlight, log *zap.Logger, servers ...*http.Server) error {
	st.stop()
	log.Info("stopping: readiness fails now; serving on while load balancers drain", zap.Duration("drain", sh.Drain.Duration()))
	closeAll := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	select {
	case <-time.After(sh.Drain.Duration()):
	case <-force:
		flight.log(log, "request cut by a second signal")
		closeAll()
		return errForced
	}
	log.Info("drained: accepting no new connections; waiting for the requests in flight",
		zap.Int("in_flight", flight.count()), zap.Duration("timeout", sh.Timeout.Duration()))
	ctx, cancel := context.WithTimeout(context.Background(), sh.Timeout.Duration())
	defer cancel()
	done := make(chan error, len(servers))
	for _, s := range servers {
		go func() { done <- s.Shutdown(ctx) }()
	}
	var err error
	for range servers {
		select {
		case e := <-done:
			err = errors.Join(err, e)
		case <-force:
			flight.log(log, "request cut by a second signal")
			closeAll()
			return errForced
		}
	}
	if err != nil {
		flight.log(log, "request cut: it outlasted shutdown.timeout")
		closeAll()
	}
	return nil
}

// inFlight tracks the requests being served, to say which a stop cut.
type inFlight struct {
	mu   sync.Mutex
	reqs map[*http.Request]time.Time
}

func newInFlight() *inFlight { return &inFlight{reqs: map[*http.Request]time.Time{}} }

func (f *inFlight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs[r] = time.Now()
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.reqs, r)
			f.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

func (f *inFlight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// log writes one line per request in flight: method and path (never the
// query, which may carry a SAS), the caller's address and how long it ran.
func (f *inFlight) log(log *zap.Logger, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for r, started := range f.reqs {
		log.Warn(msg, zap.String("method", r.Method), zap.String("path", r.URL.Path),
			zap.String("remote", r.RemoteAddr), zap.Duration("running", time.Since(started)))
	}
}

// serveOn serves h on ln until ctx is done, then lets the requests in
// flight finish: blobvalet dev, which no load balancer drains. It logs msg
// with the address once it serves.
func serveOn(ctx context.Context, h http.Handler, ln net.Listener, msg string, log *zap.Logger) error {
	hs := newHTTPServer(h, log)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info(msg, zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), config.DefaultShutdownTimeout)
	defer cancel()
	return hs.Shutdown(sctx)
}
