package app

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/config"
)

// TestBufferedLoggerLosesNothing: the service's logger writes in batches,
// and its stop writes every line still waiting.
func TestBufferedLoggerLosesNothing(t *testing.T) {
	var buf bytes.Buffer
	log, stop, err := NewBufferedLogger(config.Log{}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		log.Info("decision", zap.Int("n", i))
	}
	stop()
	if n := strings.Count(buf.String(), `"msg":"decision"`); n != 100 {
		t.Errorf("%d lines written after stop, want 100", n)
	}
}
