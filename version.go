package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"go.uber.org/zap"
)

// version is the release version, stamped into release builds with
// -ldflags "-X main.version=v1.2.3". Left empty, the module version from the
// build information is used ("(devel)" for a build from a work tree).
var version string

// buildInfo says which build of blobvalet this is.
type buildInfo struct {
	// Version is the release version, or the module version.
	Version string
	// Commit is the VCS revision, with "+dirty" when the work tree had
	// changes, or "unknown" when the build did not record it.
	Commit string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// currentBuild returns this binary's build information.
func currentBuild() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	return readBuild(version, bi, ok)
}

// readBuild is currentBuild with its inputs given, for tests.
func readBuild(stamped string, bi *debug.BuildInfo, ok bool) buildInfo {
	b := buildInfo{Version: stamped, Commit: "unknown", GoVersion: runtime.Version()}
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

// String is the one-line form that "blobvalet version" prints.
func (b buildInfo) String() string {
	return fmt.Sprintf("blobvalet %s (commit %s, %s)", b.Version, b.Commit, b.GoVersion)
}

// LogFields are the fields of the start-up log line.
func (b buildInfo) LogFields() []zap.Field {
	return []zap.Field{zap.String("version", b.Version), zap.String("commit", b.Commit), zap.String("go", b.GoVersion)}
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: blobvalet version")
		return 2
	}
	fmt.Fprintln(stdout, currentBuild())
	return 0
}
