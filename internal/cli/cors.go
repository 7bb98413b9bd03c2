package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/corscfg"
	"github.com/blobvalet/blobvalet/internal/app"
)

const corsUsage = `Usage:
  blobvalet cors show  [credentials] [--json]
  blobvalet cors plan  [credentials] --origin ORIGIN [--origin ORIGIN…] [--header H…] [--max-age 1h]
  blobvalet cors apply [credentials] --origin ORIGIN [--origin ORIGIN…] [--header H…] [--max-age 1h]

Credentials: --config FILE (the serve configuration), or --connection-string,
or AZURE_STORAGE_CONNECTION_STRING.

With an S3 configuration (storage.kind: s3) the rules are the staging
bucket's, for Fine Uploader S3 and Uppy, and the origins default to the
configuration's cors_origins.

Exit codes: 0 done or nothing to do, 1 refused or failed, 2 bad usage.
`

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// runCors runs "blobvalet cors" with args (after "cors") and returns the
// exit code. The rules themselves are made and merged by package corscfg.
func runCors(ctx context.Context, _ Process, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, corsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd := args[0]
	if cmd != "show" && cmd != "plan" && cmd != "apply" {
		fmt.Fprintf(stderr, "blobvalet cors: unknown command %q\n\n%s", cmd, corsUsage)
		return 2
	}
	fs := flag.NewFlagSet("cors "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var origins, headers listFlag
	cfgPath := fs.String("config", "", "blobvalet configuration file (its storage section gives account and key)")
	connStr := fs.String("connection-string", "", "storage connection string (default $AZURE_STORAGE_CONNECTION_STRING)")
	asJSON := fs.Bool("json", false, "show: print the rules as JSON")
	anyOrigin := fs.Bool("allow-any-origin", false, `allow origin "*" (any web site)`)
	maxAge := fs.Duration("max-age", time.Hour, "how long browsers may cache a preflight")
	fs.Var(&origins, "origin", "page origin to allow, e.g. https://app.example.com (repeatable)")
	fs.Var(&headers, "header", "extra request header to allow, e.g. Cache-Control (repeatable)")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "blobvalet cors %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}
	var cfg *config.Config
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(stderr, "blobvalet cors: %v\n", err)
			return 2
		}
	}
	onS3 := cfg != nil && cfg.Storage.IsS3()
	var d corscfg.Desired
	if cmd != "show" {
		if onS3 && len(origins) == 0 {
			// The staging bucket takes the pages that call blobvalet.
			origins = cfg.CORSOrigins
		}
		var err error
		if d, err = corsDesired(origins, headers, *maxAge, *anyOrigin); err != nil {
			if onS3 && len(origins) == 0 {
				err = errors.New("no origin: set cors_origins in the configuration, or pass --origin, e.g. https://app.example.com")
			}
			fmt.Fprintf(stderr, "blobvalet cors %s: %v\n", cmd, err)
			return 2
		}
		d.S3 = onS3
		if *anyOrigin {
			fmt.Fprintln(stderr, `warning: origin "*" lets any web site send uploads to this storage with URLs it obtains`)
		}
	}
	get, set, err := corsRules(cfg, *connStr)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet cors: %v\n", err)
		return 2
	}
	if onS3 {
		fmt.Fprintf(stdout, "S3 staging bucket %s at %s:\n", cfg.Staging.Container, cfg.Storage.Endpoint)
	}
	switch cmd {
	case "show":
		rules, err := get(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "blobvalet cors show: %v\n", err)
			return 1
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rules); err != nil {
				fmt.Fprintf(stderr, "blobvalet cors show: %v\n", err)
				return 1
			}
			return 0
		}
		printCORSRules(stdout, rules, -1)
		return 0
	}
	current, err := get(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "blobvalet cors %s: %v\n", cmd, err)
		return 1
	}
	res, err := corscfg.Plan(current, d)
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		printCORSDiff(stdout, res)
		fmt.Fprintf(stderr, "blobvalet cors %s: %v\n", cmd, err)
		return 1
	}
	if !res.Changed() {
		fmt.Fprintln(stdout, "Nothing to change: blobvalet's rule is already in place.")
		return 0
	}
	printCORSDiff(stdout, res)
	if cmd == "plan" {
		fmt.Fprintln(stdout, "\nNothing written (plan). Run blobvalet cors apply to write this.")
		return 0
	}
	if err := set(ctx, res.After); err != nil {
		fmt.Fprintf(stderr, "blobvalet cors apply: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "\nWritten.")
	return 0
}

func corsDesired(origins, headers []string, maxAge time.Duration, anyOrigin bool) (corscfg.Desired, error) {
	if len(origins) == 0 {
		return corscfg.Desired{}, errors.New("--origin is required: the origin of the page that uploads, e.g. https://app.example.com")
	}
	for _, o := range origins {
		if err := corscfg.CheckOrigin(o, anyOrigin); err != nil {
			return corscfg.Desired{}, err
		}
		if o == "*" && len(origins) > 1 {
			return corscfg.Desired{}, errors.New(`origin "*" already covers every origin; pass it alone`)
		}
	}
	for _, h := range headers {
		if h == "" || strings.ContainsAny(h, ", \t") {
			return corscfg.Desired{}, fmt.Errorf("--header %q: want one header name such as Cache-Control", h)
		}
	}
	if maxAge < 0 || maxAge > 24*time.Hour*365 {
		return corscfg.Desired{}, fmt.Errorf("--max-age %v: want a duration such as 1h", maxAge)
	}
	return corscfg.Desired{Origins: origins, ExtraHeaders: headers, MaxAge: maxAge}, nil
}

// corsRules returns what reads and writes the CORS rules: the staging
// bucket's with an S3 configuration, else the Blob service's of the
// configuration's account or of a connection string. No credential is
// ever printed.
func corsRules(cfg *config.Config, connStr string) (get func(context.Context) ([]corscfg.Rule, error), set func(context.Context, []corscfg.Rule) error, err error) {
	if cfg != nil && cfg.Storage.IsS3() {
		store, err := app.NewS3Store(cfg)
		if err != nil {
			return nil, nil, err
		}
		bucket := cfg.Staging.Container
		return func(ctx context.Context) ([]corscfg.Rule, error) { return corscfg.GetS3(ctx, store, bucket) },
			func(ctx context.Context, rules []corscfg.Rule) error { return corscfg.SetS3(ctx, store, bucket, rules) }, nil
	}
	client, err := corsClient(cfg, connStr)
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context) ([]corscfg.Rule, error) { return corscfg.Get(ctx, client) },
		func(ctx context.Context, rules []corscfg.Rule) error { return corscfg.Set(ctx, client, rules) }, nil
}

// corsClient finds the account and credential: the configuration, then a
// connection string.
func corsClient(cfg *config.Config, connStr string) (*service.Client, error) {
	if cfg != nil {
		return app.NewServiceClient(cfg.Storage)
	}
	if connStr == "" {
		connStr = os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
	}
	if connStr == "" {
		return nil, errors.New("no storage credentials: pass --config FILE, --connection-string, or set AZURE_STORAGE_CONNECTION_STRING")
	}
	c, err := service.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		return nil, errors.New("the connection string is not valid (want AccountName=…;AccountKey=…;BlobEndpoint=… or DefaultEndpointsProtocol=…)")
	}
	return c, nil
}

func printCORSRules(w io.Writer, rules []corscfg.Rule, ours int) {
	if len(rules) == 0 {
		fmt.Fprintln(w, "No CORS rules.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tORIGINS\tMETHODS\tALLOWED HEADERS\tEXPOSED\tMAX AGE\t")
	for i, r := range rules {
		mark := ""
		if i == ours {
			mark = " (blobvalet)"
		}
		fmt.Fprintf(tw, "%d%s\t%s\t%s\t%s\t%s\t%ds\t\n", i+1, mark, joinOrDash(r.AllowedOrigins), joinOrDash(r.AllowedMethods), joinOrDash(r.AllowedHeaders), joinOrDash(r.ExposedHeaders), r.MaxAgeInSeconds)
	}
	tw.Flush()
}

func joinOrDash(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

// printCORSDiff shows the rules before and after, and what happens to
// blobvalet's rule.
func printCORSDiff(w io.Writer, r corscfg.Result) {
	fmt.Fprintln(w, "Before:")
	printCORSRules(w, r.Before, -1)
	fmt.Fprintln(w, "\nAfter:")
	printCORSRules(w, r.After, r.Index)
	switch r.Action {
	case corscfg.Add:
		fmt.Fprintf(w, "\n+ rule %d added for %s; the other %d rule(s) kept as they are.\n", r.Index+1, joinOrDash(r.After[r.Index].AllowedOrigins), len(r.Before))
	case corscfg.Update:
		fmt.Fprintf(w, "\n~ rule %d updated in place; the other %d rule(s) kept as they are.\n", r.Index+1, len(r.Before)-1)
	}
}
