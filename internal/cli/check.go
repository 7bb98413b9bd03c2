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
	fmt.Fprintf(w, "  storage:    account %s at %s, credential %s (%s)\n", st.Account, st.Endpoint, st.Credential, st.KeyName())
	fmt.Fprintf(w, "  containers: %s\n", strings.Join(cfg.Policy().Containers(), ", "))
	fmt.Fprintf(w, "  staging:    %s, unverified uploads removed after %v\n", cfg.Staging.Container, time.Duration(cfg.Staging.MaxAge))
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
