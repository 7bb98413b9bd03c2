package app

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/blobvalet/blobvalet/config"
)

// TestConsoleLogPlainOffTerminal logs in the console format to a buffer and
// to a file: neither gets colour escape codes.
func TestConsoleLogPlainOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, w := range map[string]io.Writer{"buffer": &buf, "file": f} {
		log, err := NewLogger(config.Log{Format: "console"}, w)
		if err != nil {
			t.Fatal(err)
		}
		log.Warn("hello")
		log.Sync()
		out := buf.String()
		if name == "file" {
			data, _ := os.ReadFile(f.Name())
			out = string(data)
		}
		if strings.Contains(out, "\x1b[") || !strings.Contains(out, "\tWARN\thello") {
			t.Errorf("%s: %q, want a plain WARN", name, out)
		}
	}
}

// TestConsoleLogColourOnTerminal checks that a terminal (a pseudo-terminal
// here) gets the coloured level.
func TestConsoleLogColourOnTerminal(t *testing.T) {
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer pty.Close()
	enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{LevelKey: "level", MessageKey: "msg", EncodeLevel: levelEncoder(pty)})
	buf, err := enc.EncodeEntry(zapcore.Entry{Level: zapcore.WarnLevel, Message: "hello"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "\x1b[33mWARN\x1b[0m") {
		t.Errorf("%q, want a yellow WARN", buf.String())
	}
}
