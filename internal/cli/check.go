package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/tlsconfig"
)

// runCheck checks a configuration as serve does at start, without serving:
// exit 0 when serve would start, 1 with every problem found, 2 on bad usage.
// Without --storage it reads only the file and the secrets it names; with
// --storage it also asks storage (account, key, containers) and the identity
// provider, as serve does.
func runCheck(ctx context.Context, _ Process, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML) to check")
	online := fs.Bool("storage", false, "also check storage (account, key, containers) and the identity provider, as serve does at start")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: blobvalet check --config FILE [--storage]")
		return 2
	}
	cfg, ok := loadConfig(*path, stderr)
	if !ok {
		return 1
	}
	if cfg.TLS != nil {
		if _, err := tlsconfig.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, time.Now); err != nil {
			fmt.Fprintf(stderr, "blobvalet: config %s: %v\n", *path, err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "config ok: %s\n", *path)
	printSummary(stdout, cfg)
	if !*online {
		fmt.Fprintln(stdout, "  not checked: storage and identity provider (add --storage)")
		return 0
	}
	if cfg.Storage.IsS3() {
		return checkS3(ctx, cfg, stdout, stderr)
	}
	if problems := app.CheckOnline(ctx, cfg); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "blobvalet: %v\n", p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "storage ok: account %s answers, the credential works, containers %s exist\n",
		cfg.Storage.Account, strings.Join(cfg.Policy().Containers(), ", "))
	return 0
}

// printSummary says what the configuration amounts to, without secrets.
func printSummary(w io.Writer, cfg *config.Config) {
	st := cfg.Storage
	fmt.Fprintf(w, "  listen:     %s\n", cfg.Listen)
	if st.IsS3() {
		printS3Summary(w, cfg)
	} else {
		fmt.Fprintf(w, "  storage:    account %s at %s, credential %s (%s)\n", st.Account, st.Endpoint, st.Credential, st.KeyName())
		fmt.Fprintf(w, "  containers: %s\n", strings.Join(cfg.Policy().Containers(), ", "))
		fmt.Fprintf(w, "  staging:    %s, unverified uploads removed after %v\n", cfg.Staging.Container, time.Duration(cfg.Staging.MaxAge))
	}
	var auth []string
	if n := len(cfg.Auth.Tokens); n > 0 {
		auth = append(auth, fmt.Sprintf("%d static tokens", n))
	}
	if j := cfg.Auth.JWT; j != nil {
		auth = append(auth, fmt.Sprintf("JWT from %s for audience %s", j.Issuer, j.Audience))
	}
	if th := cfg.Auth.TrustedHeader; th != nil {
		auth = append(auth, fmt.Sprintf("trusted header %s from %s", th.User, strings.Join(th.TrustedProxies, ", ")))
	}
	fmt.Fprintf(w, "  auth:       %s\n", strings.Join(auth, "; "))
	names := make([]string, len(cfg.Rules))
	for i, r := range cfg.Rules {
		names[i] = r.Name
	}
	fmt.Fprintf(w, "  rules:      %d (%s)\n", len(names), strings.Join(names, ", "))
	fmt.Fprintf(w, "  sas:        lifetime %v\n", time.Duration(cfg.SAS.Lifetime))
	if len(cfg.CORSOrigins) > 0 {
		fmt.Fprintf(w, "  origins:    %s\n", strings.Join(cfg.CORSOrigins, ", "))
	}
}

// printS3Summary is printSummary's storage part for S3.
func printS3Summary(w io.Writer, cfg *config.Config) {
	st := &cfg.Storage
	sign, _ := app.NewS3Signing(cfg)
	fmt.Fprintf(w, "  storage:    s3 at %s, region %s, %s addressing, acl %s\n", st.Endpoint, st.Region, st.Addressing, st.ACL)
	fmt.Fprintf(w, "  signer:     %s, signs uploads to %s\n", sign.Keys, sign.URL)
	fmt.Fprintf(w, "  service:    %s\n", st.S3Service())
	fmt.Fprintf(w, "  buckets:    %s\n", strings.Join(cfg.Policy().Containers(), ", "))
	fmt.Fprintf(w, "  staging:    bucket %s, unverified uploads removed after %v\n", cfg.Staging.Container, time.Duration(cfg.Staging.MaxAge))
	if st.S3Signer().AccessKeyID == st.S3Service().AccessKeyID {
		fmt.Fprintln(w, "  note:       signer and service are one key: give the signer a key of its own that may only write the staging bucket (docs/storage-s3.md)")
	}
}

// checkS3 runs check --storage on an S3 configuration and reports what
// the service honours.
func checkS3(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) int {
	rep, problems := app.CheckOnlineS3(ctx, cfg)
	if co := rep.CreateOnly; co.Put || co.Copy || co.Complete || len(co.Notes) > 0 {
		fmt.Fprintln(stdout, "create-only writes (If-None-Match: *) in the staging bucket:")
		for _, p := range []struct {
			what string
			ok   bool
			use  string
		}{
			{"PutObject", co.Put, "the sweeper's lock"},
			{"CopyObject", co.Copy, "promotion up to 5 GiB"},
			{"CompleteMultipartUpload", co.Complete, "promotion by multipart copy"},
		} {
			verdict := "ignored"
			if p.ok {
				verdict = "honoured"
			}
			fmt.Fprintf(stdout, "  %-24s %-9s (%s)\n", p.what, verdict, p.use)
		}
		switch {
		case co.Copy:
			fmt.Fprintln(stdout, "  promotion: CopyObject up to 5 GiB, multipart copy above")
		case co.Complete:
			fmt.Fprintln(stdout, "  promotion: multipart copy, completed create-only")
		default:
			fmt.Fprintln(stdout, "  promotion: cannot be create-only here; only rules with overwrite: true can run")
		}
		for _, n := range co.Notes {
			fmt.Fprintf(stdout, "  found: %s\n", n)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(stdout, "staging bucket: %s\n", n)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "blobvalet: %v\n", p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "storage ok: %s answers, storage.service works, buckets %s exist, staging bucket %s is not public\n",
		cfg.Storage.Endpoint, strings.Join(cfg.Policy().Containers(), ", "), cfg.Staging.Container)
	return 0
}
