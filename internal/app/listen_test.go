package app

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/config"
)

func TestPlainHTTPWarning(t *testing.T) {
	for _, tt := range []struct {
		listen string
		warn   bool
	}{
		{"127.0.0.1:8080", false},
		{"[::1]:8080", false},
		{"localhost:8080", false},
		{"0.0.0.0:8080", true},
		{":8080", true},
		{"10.0.0.5:8080", true},
	} {
		core, logs := observer.New(zap.InfoLevel)
		wrap, _, err := secureListener(&config.Config{Listen: tt.listen}, zap.New(core))
		if err != nil || wrap(nil) != nil {
			t.Fatalf("%s: %v", tt.listen, err)
		}
		warned := logs.FilterMessageSnippet("bearer tokens and SAS URIs cross the network in clear").FilterLevelExact(zap.WarnLevel).Len() == 1
		if warned != tt.warn {
			t.Errorf("listen %s: warned %v, want %v", tt.listen, warned, tt.warn)
		}
	}
}
