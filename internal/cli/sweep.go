package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/staging"
)

const sweepUsage = "usage: blobvalet sweep --config FILE [--older-than DURATION] [--dry-run]"

// runSweep removes unverified uploads once, for cron or a Kubernetes
// CronJob. blobvalet serve sweeps by itself too; the lock blob's lease (on
// S3, a lock object) keeps the two from sweeping at once. On S3 a stale
// incomplete multipart upload is an unverified upload too, and is aborted.
func runSweep(ctx context.Context, _ Process, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML), as for serve")
	olderThan := fs.Duration("older-than", 0, "remove unverified uploads last written longer ago than this (default: staging.max_age)")
	dryRun := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *path == "" || fs.NArg() > 0 || *olderThan < 0 {
		fmt.Fprintln(stderr, sweepUsage)
		return 2
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return 1
	}
	age := time.Duration(cfg.Staging.MaxAge)
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "older-than" {
			age = *olderThan
		}
	})
	log, err := app.NewLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %v\n", err)
		return 1
	}
	defer log.Sync()
	store, err := sweepStore(ctx, cfg)
	if err != nil {
		log.Error("blobvalet cannot sweep", zap.Error(err))
		return 1
	}
	where := "staging container"
	if cfg.Storage.IsS3() {
		where = "staging bucket"
	}
	s := &staging.Sweeper{Container: cfg.Staging.Container, Store: store, Log: log, DryRun: *dryRun}
	rep, err := s.Sweep(ctx, age)
	if errors.Is(err, staging.ErrLocked) {
		fmt.Fprintf(stdout, "another instance is sweeping %s %s now; nothing done\n", where, cfg.Staging.Container)
		return 0
	}
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(stdout, "%s %d unverified uploads (%d bytes) older than %v; %d in %s %s\n",
		verb, rep.Removed, rep.Bytes, age, rep.Examined, where, cfg.Staging.Container)
	if rep.Failed > 0 {
		fmt.Fprintf(stdout, "%d could not be removed (see the log); the next sweep tries them again\n", rep.Failed)
	}
	if err != nil {
		log.Error("sweep failed", zap.Error(err))
		return 1
	}
	return 0
}

// sweepStore is the staging store of cfg, once its staging container or
// bucket is found.
func sweepStore(ctx context.Context, cfg *config.Config) (staging.SweepStore, error) {
	if cfg.Storage.IsS3() {
		store, err := app.NewS3Store(cfg)
		if err != nil {
			return nil, err
		}
		return store, app.CheckS3Buckets(ctx, store, cfg)
	}
	client, err := app.NewServiceClient(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	if err := app.CheckStorage(ctx, client, cfg); err != nil {
		return nil, err
	}
	return azblob.Store{Client: client}, nil
}
