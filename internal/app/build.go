package app

import (
	"fmt"

	"go.uber.org/zap"
)

// Build says which build of blobvalet this is.
type Build struct {
	// Version is the release version, or the module version.
	Version string
	// Commit is the VCS revision, with "+dirty" when the work tree had
	// changes, or "unknown" when the build did not record it.
	Commit string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// String is the one-line form that "blobvalet version" prints.
func (b Build) String() string {
	return fmt.Sprintf("blobvalet %s (commit %s, %s)", b.Version, b.Commit, b.GoVersion)
}

// LogFields are the fields of the start-up log line.
func (b Build) LogFields() []zap.Field {
	return []zap.Field{zap.String("version", b.Version), zap.String("commit", b.Commit), zap.String("go", b.GoVersion)}
}
