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
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/config"
)

// Server timeouts. A signature request is small and quick; these only stop
// slow or stuck clients from holding connections.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 15 * time.Second
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
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error("cannot listen", zap.String("listen", cfg.Listen), zap.Error(err))
		return 1
	}
	plain := ln
	ln, reloadCert, err := secureListener(ln, cfg, log)
	if err != nil {
		plain.Close()
		log.Error("blobvalet cannot start", zap.Error(err))
		return 1
	}
	admin, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		ln.Close()
		log.Error("cannot listen", zap.String("admin_listen", cfg.AdminListen), zap.Error(err))
		return 1
	}
	rl, err := newReloader(ctx, *path, cfg, log)
	if err != nil {
		ln.Close()
		admin.Close()
		log.Error("blobvalet cannot start", zap.Error(err))
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
	go rl.watch(ctx)
	adminErr := make(chan error, 1)
	go func() { adminErr <- serveOn(ctx, rl.admin(), admin, "admin listening", log) }()
	err = errors.Join(serveOn(ctx, rl, ln, "listening", log), <-adminErr)
	if err != nil {
		log.Error("blobvalet stopped", zap.Error(err))
		return 1
	}
	return 0
}

// serveOn serves h on ln until ctx is done, then shuts down gracefully.
// It logs msg with the address once it serves.
func serveOn(ctx context.Context, h http.Handler, ln net.Listener, msg string, log *zap.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info(msg, zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return hs.Shutdown(sctx)
}
