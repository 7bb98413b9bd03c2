package errs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	if got := Clip("short"); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	exact := strings.Repeat("a", MaxValueLen)
	if got := Clip(exact); got != exact {
		t.Errorf("a value of exactly %d bytes was clipped", MaxValueLen)
	}
	got := Clip(strings.Repeat("a", 500_000))
	if len(got) > MaxValueLen+40 || !strings.HasSuffix(got, "…[499800 more bytes]") {
		t.Errorf("Clip of 500,000 bytes = %d bytes ending %q", len(got), got[len(got)-30:])
	}
	multi := Clip(strings.Repeat("é", MaxValueLen))
	if !utf8.ValidString(multi) || !strings.HasPrefix(multi, strings.Repeat("é", MaxValueLen/2)) {
		t.Errorf("Clip cut a rune in half: %q", multi)
	}
}
