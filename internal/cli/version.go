package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/blobvalet/blobvalet/internal/app"
)

// currentBuild returns this binary's build information; stamped is the
// release version stamped into main (-ldflags "-X main.version=v1.2.3"),
// or "" to take the module version from the build information ("(devel)"
// for a build from a work tree).
func currentBuild(stamped string) app.Build {
	bi, ok := debug.ReadBuildInfo()
	return readBuild(stamped, bi, ok)
}

// readBuild is currentBuild with its inputs given, for tests.
func readBuild(stamped string, bi *debug.BuildInfo, ok bool) app.Build {
	b := app.Build{Version: stamped, Commit: "unknown", GoVersion: runtime.Version()}
	if !ok {
		if b.Version == "" {
			b.Version = "unknown"
		}
		return b
	}
	if b.Version == "" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		b.Commit = rev
		if modified == "true" {
			b.Commit += "+dirty"
		}
	}
	return b
}

func runVersion(_ context.Context, p Process, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: blobvalet version")
		return 2
	}
	fmt.Fprintln(stdout, currentBuild(p.Version))
	return 0
}
