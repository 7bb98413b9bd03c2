package authz

import (
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/blobref"
)

func mustPattern(t testing.TB, s string) *Pattern {
	t.Helper()
	p, err := CompilePattern(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, name, user string
		want                bool
	}{
		{"users/{user}/**", "users/alice/x.jpg", "alice", true},
		{"users/{user}/**", "users/alice/a/b/c.jpg", "alice", true},
		{"users/{user}/**", "users/bob/x.jpg", "alice", false},
		{"users/{user}/**", "users/alice2/x.jpg", "alice", false},
		{"users/{user}/**", "users/alic/x.jpg", "alice", false},
		{"users/{user}/**", "other/alice/x.jpg", "alice", false},
		{"users/{user}/**", "users/alice/x", "alice", true},
		{"users/{user}/**", "users/alice", "alice", false},
		{"users/{user}/*", "users/alice/a/b", "alice", false},
		{"users/{user}/*.jpg", "users/alice/a.jpg", "alice", true},
		{"users/{user}/*.jpg", "users/alice/a.png", "alice", false},
		{"users/{user}-work/**", "users/alice-work/x", "alice", true},
		{"users/{user}-work/**", "users/alice/x", "alice", false},
		{"users/{user}/*_*_*.jpg", "users/alice/a_b_c.jpg", "alice", true},
		{"users/{user}/*_*_*.jpg", "users/alice/a_b.jpg", "alice", false},
		{"**/*_*_*.jpg", "x/y/a__b_c.jpg", "", true},
		{"a/**/b/**", "a/b/c", "", true},
		{"a/**/b/**", "a/b", "", false},
		{"a/**/**/b", "a/b", "", true},
		{"a/**/**/b", "a/x/y/z/b", "", true},
		{"**/x/**", "x/x", "", true},
		{"**/x/**", "x", "", false},
		{"*", "héllo", "", true},
		{"h*o", "héllo", "", true},
		{"h*é*o", "héllo", "", true},
		{"**", "a/b/c", "", true},
		{"**/*.jpg", "a/b/c.jpg", "", true},
		{"**/*.jpg", "c.jpg", "", true},
		{"**/*.jpg", "c.png", "", false},
		{"exact.txt", "exact.txt", "", true},
		{"exact.txt", "exact.txt2", "", false},

		// A user id that is not one safe segment never matches {user}.
		{"users/{user}/**", "users/a/b/x", "a/b", false},
		{"users/{user}/**", "users/*/x", "*", false},
		{"users/{user}/**", "users/x/y", "*", false},
		{"users/{user}/**", "users/../x", "..", false},
		{"users/{user}/**", "users/./x", ".", false},
		{"users/{user}/**", "users/x/y", "", false},
		{"users/{user}/**", "users/a?/y", "a?", false},
		{"users/{user}/**", "users/[a]/y", "[a]", false},
		{"users/{user}/**", "users/{user}/y", "{user}", false},
		{"users/{user}/**", `users/a\b/y`, `a\b`, false},
		{"users/{user}/**", "users/ali ce/y", "ali ce", true},
		{"users/{user}/**", "users/alice@example.com/y", "alice@example.com", true},
	}
	for _, tt := range tests {
		got := mustPattern(t, tt.pattern).Match(blobref.Name(tt.name), tt.user)
		if got != tt.want {
			t.Errorf("%q.Match(%q, user %q) = %v, want %v", tt.pattern, tt.name, tt.user, got, tt.want)
		}
	}
}

func TestCompilePatternErrors(t *testing.T) {
	for _, p := range []string{"", "a//b", "/a", "a/", "a**", "a/**b", "{group}/x", "a?", "[ab]", "{user"} {
		if _, err := CompilePattern(p); err == nil {
			t.Errorf("CompilePattern(%q) succeeded, want error", p)
		}
	}
}

// TestCompilePatternUserWithStar: a {user} next to * in one segment would
// let bob match bob.smith's names, so such patterns are refused at load.
func TestCompilePatternUserWithStar(t *testing.T) {
	for _, p := range []string{"{user}.*", "home/{user}-*/**", "users/*{user}/x", "a/{user}*"} {
		_, err := CompilePattern(p)
		if err == nil {
			t.Errorf("CompilePattern(%q) succeeded, want error", p)
			continue
		}
		if !strings.Contains(err.Error(), "{user} and *") {
			t.Errorf("CompilePattern(%q) error %q does not say why", p, err)
		}
	}
	for _, p := range []string{"users/{user}/*", "{user}.png", "x-{user}-y/**"} {
		if _, err := CompilePattern(p); err != nil {
			t.Errorf("CompilePattern(%q): %v", p, err)
		}
	}
}

func examplePolicy(t testing.TB) *Policy {
	return NewPolicy([]*Rule{
		{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: mustPattern(t, "users/{user}/**"), Methods: []Method{Put, Delete}},
		{Name: "staff-drop", Groups: []string{"staff"}, Container: "shared", Blobs: mustPattern(t, "**"), Methods: []Method{Put}, Overwrite: true},
	})
}

func TestDecide(t *testing.T) {
	p := examplePolicy(t)
	alice := User{ID: "alice", Groups: []string{"staff"}}
	bob := User{ID: "bob"}
	ref := func(c, n string) blobref.Ref { return blobref.Ref{Container: c, Name: blobref.Name(n)} }
	tests := []struct {
		user   User
		method Method
		blob   blobref.Ref
		rule   string // "" = denied
	}{
		{alice, Put, ref("uploads", "users/alice/x.jpg"), "own-folder"},
		{alice, Delete, ref("uploads", "users/alice/x.jpg"), "own-folder"},
		{bob, Put, ref("uploads", "users/bob/x.jpg"), "own-folder"},
		{bob, Put, ref("uploads", "users/alice/x.jpg"), ""},
		{bob, Delete, ref("uploads", "users/alice/x.jpg"), ""},
		{alice, Put, ref("uploads", "x.jpg"), ""},
		{alice, Put, ref("shared", "anything/x.jpg"), "staff-drop"},
		{alice, Delete, ref("shared", "anything/x.jpg"), ""},
		{bob, Put, ref("shared", "x.jpg"), ""},
		{User{}, Put, ref("uploads", "users//x"), ""},
		{User{ID: "users"}, Put, ref("other", "users/users/x"), ""},
		{alice, "GET", ref("uploads", "users/alice/x.jpg"), ""},
	}
	for _, tt := range tests {
		d := p.Decide(Request{User: tt.user, Method: tt.method, Blob: tt.blob})
		got := ""
		if d.Allow {
			got = d.Rule.Name
		}
		if got != tt.rule {
			t.Errorf("Decide(%v %s %s) = %q (%s), want %q", tt.user.ID, tt.method, tt.blob, got, d.Reason, tt.rule)
		}
		if !d.Allow && d.Reason == "" {
			t.Errorf("denial without a reason")
		}
	}
}

func TestConstraints(t *testing.T) {
	c := Constraints{ContentTypes: []string{"image/*", "text/plain"}, Extensions: []string{".jpg", ".TXT"}}
	for ct, want := range map[string]bool{
		"image/png": true, "IMAGE/JPEG": true, "text/plain; charset=utf-8": true,
		"text/html": false, "image": false, "imagex/png": false, "": false,
	} {
		if got := c.AllowsContentType(ct); got != want {
			t.Errorf("AllowsContentType(%q) = %v, want %v", ct, got, want)
		}
	}
	for n, want := range map[string]bool{"a.jpg": true, "A.JPG": true, "b.txt": true, "c.png": false, "jpg": false} {
		if got := c.AllowsName(n); got != want {
			t.Errorf("AllowsName(%q) = %v, want %v", n, got, want)
		}
	}
	if !(Constraints{}).AllowsContentType("x/y") || !(Constraints{}).AllowsName("x") {
		t.Error("empty constraints must allow anything")
	}
}

// FuzzDecide checks the property that matters: whatever the name and user
// id, a user is never allowed into a folder that is not their own, and
// never gets a match through an unsafe id.
func FuzzDecide(f *testing.F) {
	f.Add("alice", "users/alice/x.jpg")
	f.Add("a/b", "users/a/b/x")
	f.Add("..", "users/../x")
	f.Add("*", "users/bob/x")
	f.Add("alice", "users/bob/x")
	p := NewPolicy([]*Rule{{Name: "own", Users: []string{"*"}, Container: "c", Blobs: mustPattern(f, "users/{user}/**"), Methods: []Method{Put}}})
	f.Fuzz(func(t *testing.T, user, name string) {
		n, err := blobref.ParseName(name)
		if err != nil {
			return
		}
		d := p.Decide(Request{User: User{ID: user}, Method: Put, Blob: blobref.Ref{Container: "c", Name: n}})
		if !d.Allow {
			return
		}
		segs := n.Segments()
		if !SafeUserID(user) || len(segs) < 3 || segs[0] != "users" || segs[1] != user {
			t.Fatalf("user %q allowed to write %q", user, name)
		}
	})
}
