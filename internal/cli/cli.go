// Package cli is blobvalet's command line: a table of commands, each
// parsing its flags and running a part of package app. Package main owns
// the process (its signals, its exit code) and hands it in as a Process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/blobvalet/blobvalet/config"
)

// Process is what package main hands the commands.
type Process struct {
	// Version is the release version stamped into the binary, or "".
	Version string
	// Signals are the process's signals besides the first SIGINT or
	// SIGTERM, which ends the context; nil means none.
	Signals Signals
}

// Signals gives a command the process's signals. Only package main
// subscribes to them: a signal a command never asks for keeps its default
// effect.
type Signals interface {
	// Hangup receives on each SIGHUP from the moment it is first called.
	Hangup() <-chan struct{}
	// Force is closed by a second SIGINT or SIGTERM.
	Force() <-chan struct{}
}

// noSignals is the Signals of a process whose signals stay with the
// caller, as in tests: its channels never fire.
type noSignals struct{}

func (noSignals) Hangup() <-chan struct{} { return nil }
func (noSignals) Force() <-chan struct{}  { return nil }

// command is one "blobvalet COMMAND".
type command struct {
	names []string // the name, then any aliases
	// synopsis is the command's line in the usage, after "blobvalet ".
	synopsis string
	run      func(ctx context.Context, p Process, args []string, stdout, stderr io.Writer) int
}

// commands are blobvalet's commands, in the order the usage lists them.
var commands = []command{
	{[]string{"serve"}, "serve --config FILE   run the service", runServe},
	{[]string{"check"}, "check --config FILE   check a configuration as serve does at start (--storage: storage too)", runCheck},
	{[]string{"sweep"}, "sweep --config FILE   remove unverified uploads now (serve also does this)", runSweep},
	{[]string{"events"}, "events --config FILE list|replay   show or resend webhook events given up on", runEvents},
	{[]string{"cors"}, "cors  show|plan|apply manage storage's CORS rules (the Azure account's, or the S3 staging bucket's)", runCors},
	{[]string{"dev"}, "dev                   run everything locally on Azurite with a demo page", runDev},
	{[]string{"version", "-version", "--version"}, "version               print the version, commit and Go version", runVersion},
}

// usage is the overview that "blobvalet help" prints.
func usage() string {
	var b strings.Builder
	b.WriteString("blobvalet: direct browser uploads to Azure Blob Storage for Fine Uploader Azure\n\nUsage:\n")
	for _, c := range commands {
		b.WriteString("  blobvalet " + c.synopsis + "\n")
	}
	b.WriteString("\nRun \"blobvalet COMMAND -h\" for a command's flags.\n")
	return b.String()
}

// Run runs the command that args name and returns the process exit code:
// 0 done, 1 failed, 2 bad usage. The command stops when ctx ends.
func Run(ctx context.Context, p Process, args []string, stdout, stderr io.Writer) int {
	if p.Signals == nil {
		p.Signals = noSignals{}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage())
		return 0
	}
	for _, c := range commands {
		for _, name := range c.names {
			if name == args[0] {
				return c.run(ctx, p, args[1:], stdout, stderr)
			}
		}
	}
	fmt.Fprintf(stderr, "blobvalet: unknown command %q\n\n%s", args[0], usage())
	return 2
}

// parseFlags parses a command's args into fs. When it fails, ok is false
// and code is the exit code: 0 after -h, 2 for bad usage (fs has said why).
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// loadConfig reads and checks the configuration file, saying on stderr
// what is wrong with it.
func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet: %v\n", err)
		return nil, false
	}
	return cfg, true
}
