package staging

import (
	"errors"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/blobref"
)

func ref(c, n string) blobref.Ref { return blobref.Ref{Container: c, Name: blobref.Name(n)} }

func TestRefIsOneToOne(t *testing.T) {
	a := Area{Container: "incoming"}
	cases := []struct {
		user  string
		final blobref.Ref
	}{
		{"alice", ref("uploads", "users/alice/x.jpg")},
		{"bob", ref("uploads", "users/alice/x.jpg")},
		{"alice", ref("shared", "users/alice/x.jpg")},
		{"alice/uploads", ref("users", "alice/x.jpg")},
		{"a/b", ref("c", "d")},
		{"a", ref("b", "c/d")},
		{"ünï cödé", ref("uploads", "ü/x y#?.txt")},
	}
	seen := map[string]int{}
	for i, c := range cases {
		if c.final.Container == "" {
			continue
		}
		r, err := a.Ref(c.user, c.final)
		if err != nil {
			t.Fatalf("%q %v: %v", c.user, c.final, err)
		}
		if r.Container != "incoming" {
			t.Errorf("staging container %q", r.Container)
		}
		if j, dup := seen[string(r.Name)]; dup {
			t.Errorf("cases %d and %d share staging name %q", j, i, r.Name)
		}
		seen[string(r.Name)] = i
		if _, err := blobref.ParseName(string(r.Name)); err != nil {
			t.Errorf("staging name %q is not a legal blob name: %v", r.Name, err)
		}
		user, final, ok := Final(string(r.Name))
		if !ok || user != c.user || final != c.final {
			t.Errorf("Final(%q) = %q %v %v, want %q %v", r.Name, user, final, ok, c.user, c.final)
		}
	}
}

func TestRefTooLong(t *testing.T) {
	a := Area{Container: "incoming"}
	name := strings.Repeat("x", blobref.MaxNameLength-len("YWxpY2U/uploads/"))
	if _, err := a.Ref("alice", ref("uploads", name)); err != nil {
		t.Fatalf("longest stageable name: %v", err)
	}
	_, err := a.Ref("alice", ref("uploads", name+"y"))
	if !errors.Is(err, ErrNameTooLong) || !strings.Contains(err.Error(), "at most 1008 characters") {
		t.Fatalf("one more character: %v", err)
	}
	deep := strings.Repeat("a/", MaxSegments-2) + "b"
	if _, err := a.Ref("alice", ref("uploads", deep)); !errors.Is(err, ErrNameTooLong) {
		t.Fatalf("%d segments: %v", MaxSegments+1, err)
	}
	if _, err := a.Ref("", ref("uploads", "x")); err == nil {
		t.Fatal("no user: no error")
	}
}

func TestFinalRefusesOtherNames(t *testing.T) {
	for _, n := range []string{LockBlob, "x", "YWxpY2U/uploads", "!!/uploads/x", "/uploads/x"} {
		if _, _, ok := Final(n); ok {
			t.Errorf("Final(%q) ok", n)
		}
	}
}

// TestRefTooLongInBytes: with LimitBytes (S3) a name of multibyte
// characters is measured in bytes, as S3 measures keys; Azure counts the
// same name in characters.
func TestRefTooLongInBytes(t *testing.T) {
	name := strings.Repeat("é", 600) // 600 characters, 1200 bytes
	if _, err := (Area{Container: "incoming"}).Ref("alice", ref("uploads", name)); err != nil {
		t.Fatalf("Azure, 600 characters: %v", err)
	}
	_, err := Area{Container: "incoming", LimitBytes: true}.Ref("alice", ref("uploads", name))
	if !errors.Is(err, ErrNameTooLong) || !strings.Contains(err.Error(), "at most 1008 bytes for this user, got 1200") {
		t.Fatalf("S3, 1200 bytes: %v", err)
	}
}
