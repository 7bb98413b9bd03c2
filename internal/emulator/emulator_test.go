package emulator

import (
	"strings"
	"testing"
)

func TestHomeRelative(t *testing.T) {
	t.Setenv("HOME", "/home/alice")
	for in, want := range map[string]string{
		"/home/alice/.cache/blobvalet": "~/.cache/blobvalet",
		"/home/alicia/x":               "/home/alicia/x",
		"/var/cache/blobvalet":         "/var/cache/blobvalet",
	} {
		if got := HomeRelative(in); got != want {
			t.Errorf("HomeRelative(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	var tl Tail
	tl.Write([]byte(strings.Repeat("a", tailSize)))
	tl.Write([]byte("the reason\n"))
	if got := tl.String(); len(got) > tailSize || !strings.HasSuffix(got, "the reason") {
		t.Errorf("tail kept %d bytes ending %q", len(got), got[max(0, len(got)-20):])
	}
}

func TestFreePortsDiffer(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Errorf("ports %v are not distinct", ports)
	}
}
