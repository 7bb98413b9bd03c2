package authz

import (
	"testing"

	"github.com/blobvalet/blobvalet/blobref"
)

func TestUserIDThatDecodesIsNotUser(t *testing.T) {
	for id, safe := range map[string]bool{
		"alice": true, "josé": true, "alice.smith": true, "a+b": true, "ci-bot@example.com": true,
		"%61lice": false, "alice%2F..": false, "a#b": false, "a/b": false, "..": false,
	} {
		if SafeUserID(id) != safe {
			t.Errorf("SafeUserID(%q) = %v, want %v", id, !safe, safe)
		}
	}
	p, err := CompilePattern("users/{user}/**")
	if err != nil {
		t.Fatal(err)
	}
	if p.Match(blobref.Name("users/%61lice/x.png"), "%61lice") {
		t.Error("the user %61lice owns users/%61lice/, which decodes to alice's folder")
	}
}
