package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/blobvalet/blobvalet/internal/app"
)

func runDev(ctx context.Context, p Process, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the demo page and the service")
	data := fs.String("data", "", "keep blobs in this directory between runs (default: in memory)")
	storage := fs.String("storage", app.StorageAzure, "the local storage emulator: azure (Azurite) or s3 (versitygw)")
	expose := fs.Bool("expose", false, "allow a --listen address other than loopback: anyone who can reach it gets the demo users' tokens")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: blobvalet dev [--storage azure|s3] [--listen ADDR] [--data DIR] [--expose]")
		return 2
	}
	if *storage != app.StorageAzure && *storage != app.StorageS3 {
		fmt.Fprintf(stderr, "blobvalet dev: --storage %s: want azure (Azurite) or s3 (versitygw)\n", *storage)
		return 2
	}
	if !*expose && !app.LoopbackListen(*listen) {
		fmt.Fprintf(stderr, "blobvalet dev: --listen %s is not a loopback address: the demo page hands its users' tokens to anyone who can reach it. Use 127.0.0.1:PORT, or add --expose if that is what you want.\n", *listen)
		return 2
	}
	// Closing the terminal stops dev as Ctrl-C does, Azurite with it.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	hangup := p.Signals.Hangup()
	go func() {
		select {
		case <-hangup:
			stop()
		case <-ctx.Done():
		}
	}()
	if *storage == app.StorageS3 {
		fmt.Fprintln(stderr, "blobvalet dev: starting versitygw and the service (the first run builds versitygw from the Go module proxy and installs fine-uploader and uppy from npm)…")
	} else {
		fmt.Fprintln(stderr, "blobvalet dev: starting Azurite and the service (the first run installs Azurite, fine-uploader and uppy from npm)…")
	}
	env, err := app.StartDev(ctx, app.DevOptions{Listen: *listen, DataDir: *data, Log: stderr, Expose: *expose, Storage: *storage})
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet dev: %v\n", err)
		return 1
	}
	if env.S3 != nil {
		fmt.Fprintf(stdout, `
  blobvalet dev is running on S3. Press Ctrl-C to stop it (versitygw too).

  Demo page:  %s/
  Storage:    %s   (versitygw; bucket B at http://B.localhost:%d)
  Buckets:    uploads, shared; staging: incoming
  Objects:    %s
  Users:      alice (group staff)  token %s
              bob                  token %s

  Try:  curl -H "Authorization: Bearer %s" "%s/s3/key?bucket=uploads&name=users/alice/x.txt"

`, env.URL, env.S3.VirtualEndpoint(), env.S3.Port(), dataNote(*data), env.Tokens["alice"], env.Tokens["bob"], env.Tokens["alice"], env.URL)
		return waitDev(env, stderr)
	}
	fmt.Fprintf(stdout, `
  blobvalet dev is running. Press Ctrl-C to stop it (Azurite too).

  Demo page:  %s/
  Storage:    %s   (Azurite, account %s, well-known key)
  Blobs:      %s
  Users:      alice (group staff)  token %s
              bob                  token %s

  Try:  curl -H "Authorization: Bearer %s" "%s/sas?bloburi=%s/uploads/users/alice/x.txt&_method=PUT"

`, env.URL, env.Storage.Endpoint(), env.Storage.Account(), dataNote(*data), env.Tokens["alice"], env.Tokens["bob"], env.Tokens["alice"], env.URL, env.Storage.Endpoint())
	return waitDev(env, stderr)
}

// waitDev waits until dev has stopped.
func waitDev(env *app.Dev, stderr io.Writer) int {
	if err := <-env.Done(); err != nil {
		fmt.Fprintf(stderr, "blobvalet dev: %v\n", err)
		return 1
	}
	return 0
}

func dataNote(dir string) string {
	if dir == "" {
		return "in memory (gone when this stops; --data DIR keeps them)"
	}
	return "kept in " + dir
}
