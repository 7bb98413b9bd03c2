// Command blobvalet lets web pages upload files straight from the browser to
// Azure Blob Storage: it answers Fine Uploader Azure's signature requests
// with SAS URIs scoped to one blob and one operation, checks finished
// uploads, and manages the storage account's CORS rules.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `blobvalet: direct browser uploads to Azure Blob Storage for Fine Uploader Azure

Usage:
  blobvalet serve --config FILE   run the service
  blobvalet check --config FILE   check a configuration as serve does at start (--storage: storage too)
  blobvalet sweep --config FILE   remove unverified uploads now (serve also does this)
  blobvalet events --config FILE list|replay   show or resend webhook events given up on
  blobvalet cors  show|plan|apply manage the storage account's CORS rules
  blobvalet dev                   run everything locally on Azurite with a demo page
  blobvalet version               print the version, commit and Go version

Run "blobvalet COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a subcommand and returns the process exit code: 0 done,
// 1 failed, 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "sweep":
		return runSweep(ctx, args[1:], stdout, stderr)
	case "events":
		return runEvents(ctx, args[1:], stdout, stderr)
	case "cors":
		return runCors(ctx, args[1:], stdout, stderr)
	case "dev":
		return runDev(ctx, args[1:], stdout, stderr)
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "blobvalet: unknown command %q\n\n%s", args[0], usage)
	return 2
}
