package app

import (
	"io"
	"os"

	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// levelEncoder writes console log levels in colour on a terminal and plain
// otherwise, so that files, pipes and journald get no escape codes.
func levelEncoder(w io.Writer) zapcore.LevelEncoder {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return zapcore.CapitalColorLevelEncoder
	}
	return zapcore.CapitalLevelEncoder
}
