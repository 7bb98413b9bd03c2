package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDevStaysOnLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8080", ":8080", "192.0.2.1:8080", "[::]:8080"} {
		var out, errOut bytes.Buffer
		if code := Run(context.Background(), Process{}, []string{"dev", "--listen", listen}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--expose") {
			t.Errorf("dev --listen %s = %d, %q; want 2 naming --expose", listen, code, errOut.String())
		}
	}
}

func TestDevUnknownStorage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), Process{}, []string{"dev", "--storage", "gcs"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "want azure (Azurite) or s3 (versitygw)") {
		t.Errorf("dev --storage gcs = %d, %q; want 2 naming the choices", code, errOut.String())
	}
}
