package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/internal/app"
)

func runServe(ctx context.Context, p Process, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML); see examples/blobvalet.yaml")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: blobvalet serve --config FILE")
		return 2
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return 1
	}
	log, stopLog, err := app.NewBufferedLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %v\n", err)
		return 1
	}
	defer stopLog()
	build := currentBuild(p.Version)
	log.Info("blobvalet starting", build.LogFields()...)
	a, err := app.New(ctx, cfg, app.Options{Log: log, ConfigPath: *path, Build: build})
	if err != nil {
		log.Error("blobvalet cannot start", zap.Error(err))
		return 1
	}
	if err := a.Run(ctx, app.Signals{Reload: p.Signals.Hangup(), Force: p.Signals.Force()}); err != nil {
		return 1 // Run has logged why
	}
	return 0
}
