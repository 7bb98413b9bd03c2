package blobref

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseName(t *testing.T) {
	long := strings.Repeat("a", MaxNameLength)
	tests := []struct {
		name string
		ok   bool
	}{
		{"x.jpg", true},
		{"users/alice/a b#c?d%e+ü.txt", true},
		{"users/alice/100%", true},
		{"users/alice/%zz", true},
		{"users/alice/a%20b", true},
		{"日本/語.png", true},
		{"a.b/c", true},
		{long, true},
		{strings.Repeat("é", MaxNameLength), true},

		{"", false},
		{long + "a", false},
		{"a/", false},
		{"a.", false},
		{"users/alice/.", false},
		{"a//b", false},
		{"/a", false},
		{"./a", false},
		{"../a", false},
		{"a/../b", false},
		{"a/./b", false},
		{`a\b`, false},
		{"a\x00b", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u0085b", false},
		{"a\xffb", false},
		{"users/alice%2F..%2Fbob/x", false},
		{"users/alice/..%2fx", false},
		{"users/alice/%2e%2e/x", false},
		{"users/alice/%2E/x", false},
		{"users/alice/a%5Cb", false},
		{"users/alice/a%00b", false},

		// An invalid escape must not hide a valid one elsewhere.
		{"users/bob/%zz/%2e%2e/%2e%2e/alice/x.txt", false},
		{"users/bob/100%/..%2falice/x.txt", false},
		{"users/bob/%/%2E/x", false},
		{"users/bob/%zz/%5c", false},
		{"users/bob/%zz/%41.txt", true},
	}
	for _, tt := range tests {
		_, err := ParseName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ParseName(%q) error = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestEscaped(t *testing.T) {
	n, err := ParseName("users/alice/a b#c?d%e+ü.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.Escaped(), "users/alice/a%20b%23c%3Fd%25e+%C3%BC.txt"; got != want {
		t.Errorf("Escaped() = %q, want %q", got, want)
	}
}

func TestResolve(t *testing.T) {
	r, err := NewResolver("http://127.0.0.1:10000/devstoreaccount1", []string{"uploads", "shared"})
	if err != nil {
		t.Fatal(err)
	}
	az, err := NewResolver("https://acct.blob.core.windows.net", []string{"uploads"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		r         *Resolver
		uri       string
		container string
		name      string
		err       error // nil, ErrUnknownContainer, or errAny
	}{
		{r, "http://127.0.0.1:10000/devstoreaccount1/uploads/users/alice/x.jpg", "uploads", "users/alice/x.jpg", nil},
		{r, "HTTP://127.0.0.1:10000/devstoreaccount1/uploads/x", "uploads", "x", nil},
		{r, "http://127.0.0.1:10000/devstoreaccount1/shared/a b#c?d%e+ü.txt", "shared", "a b#c?d%e+ü.txt", nil},
		{r, "http://127.0.0.1:10000/devstoreaccount1/uploads//x", "uploads", "x", nil},
		{az, "https://ACCT.Blob.Core.Windows.Net/uploads/x?y#z", "uploads", "x?y#z", nil},

		{r, "http://127.0.0.1:10000/devstoreaccount1/other/x", "", "", ErrUnknownContainer},
		{r, "http://127.0.0.1:10000/devstoreaccount2/uploads/x", "", "", ErrUnknownContainer},
		{r, "http://127.0.0.1:10001/devstoreaccount1/uploads/x", "", "", ErrUnknownContainer},
		{r, "http://127.0.0.1:100000/devstoreaccount1/uploads/x", "", "", ErrUnknownContainer},
		{r, "https://127.0.0.1:10000/devstoreaccount1/uploads/x", "", "", ErrUnknownContainer},
		{r, "http://evil@127.0.0.1:10000/devstoreaccount1/uploads/x", "", "", ErrUnknownContainer},
		{r, "http://127.0.0.1:10000/DEVSTOREACCOUNT1/uploads/x", "", "", ErrUnknownContainer},
		{r, "http://127.0.0.1:10000/devstoreaccount1/Uploads/x", "", "", ErrUnknownContainer},
		{r, "http://127.0.0.1:10000/devstoreaccount1/uploads", "", "", ErrUnknownContainer},
		{r, "http://127.0.0.1:10000/devstoreaccount1/uploadsx/y", "", "", ErrUnknownContainer},
		{r, "http://127.0.0.1:10000/devstoreaccount1/%75ploads/y", "", "", ErrUnknownContainer},
		{r, "//127.0.0.1:10000/devstoreaccount1/uploads/y", "", "", ErrUnknownContainer},
		{az, "https://acct.blob.core.windows.net.evil.com/uploads/x", "", "", ErrUnknownContainer},
		{az, "https://evil.com/acct.blob.core.windows.net/uploads/x", "", "", ErrUnknownContainer},

		{r, "http://127.0.0.1:10000/devstoreaccount1/uploads/", "", "", errAny},
		{r, "http://127.0.0.1:10000/devstoreaccount1/uploads///x", "", "", errAny},
		{r, "http://127.0.0.1:10000/devstoreaccount1/uploads/users/alice/../bob/x", "", "", errAny},
		{r, "http://127.0.0.1:10000/devstoreaccount1/uploads/users/alice%2F..%2Fbob/x", "", "", errAny},
	}
	for _, tt := range tests {
		ref, err := tt.r.Resolve(tt.uri)
		switch {
		case tt.err == nil && err != nil:
			t.Errorf("Resolve(%q) error %v", tt.uri, err)
		case tt.err == nil && (ref.Container != tt.container || string(ref.Name) != tt.name):
			t.Errorf("Resolve(%q) = %q %q, want %q %q", tt.uri, ref.Container, ref.Name, tt.container, tt.name)
		case errors.Is(tt.err, errAny) && err == nil:
			t.Errorf("Resolve(%q) = %v, want an error", tt.uri, ref)
		case errors.Is(tt.err, ErrUnknownContainer) && !errors.Is(err, ErrUnknownContainer):
			t.Errorf("Resolve(%q) error = %v, want ErrUnknownContainer", tt.uri, err)
		}
	}
}

var errAny = errors.New("any error")

func TestResolveContainer(t *testing.T) {
	r, _ := NewResolver("http://127.0.0.1:10000/devstoreaccount1", []string{"uploads"})
	for uri, ok := range map[string]bool{
		"http://127.0.0.1:10000/devstoreaccount1/uploads":   true,
		"http://127.0.0.1:10000/devstoreaccount1/uploads/":  true,
		"http://127.0.0.1:10000/devstoreaccount1/uploads/x": false,
		"http://127.0.0.1:10000/devstoreaccount1/other":     false,
		"http://localhost:10000/devstoreaccount1/uploads":   false,
	} {
		c, err := r.ResolveContainer(uri)
		if (err == nil) != ok || (ok && c != "uploads") {
			t.Errorf("ResolveContainer(%q) = %q, %v; want ok=%v", uri, c, err, ok)
		}
	}
}

func TestURLRoundTrip(t *testing.T) {
	r, _ := NewResolver("http://127.0.0.1:10000/devstoreaccount1", []string{"uploads"})
	ref := Ref{Container: "uploads", Name: "users/a/a b#c?d%e+ü.txt"}
	want := "http://127.0.0.1:10000/devstoreaccount1/uploads/users/a/a%20b%23c%3Fd%25e+%C3%BC.txt"
	if got := r.URL(ref); got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
}

// FuzzResolve checks that whatever bloburi a caller sends, Resolve either
// refuses it or returns a name that is legal, inside a known container, and
// that the URI really ends with.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:10000/devstoreaccount1/uploads/users/alice/x.jpg",
		"http://127.0.0.1:10000/devstoreaccount1/uploads//x",
		"http://127.0.0.1:10000/devstoreaccount1/uploads/a b#c?d%e+ü.txt",
		"http://127.0.0.1:10000/devstoreaccount1/uploads/a/../b",
		"http://127.0.0.1:10000/devstoreaccount1/uploads/a%2F..%2Fb",
		"http://x/y",
	} {
		f.Add(s)
	}
	r, _ := NewResolver("http://127.0.0.1:10000/devstoreaccount1", []string{"uploads"})
	f.Fuzz(func(t *testing.T, uri string) {
		ref, err := r.Resolve(uri)
		if err != nil {
			return
		}
		if ref.Container != "uploads" {
			t.Fatalf("container %q", ref.Container)
		}
		if _, err := ParseName(string(ref.Name)); err != nil {
			t.Fatalf("Resolve returned illegal name %q: %v", ref.Name, err)
		}
		if !strings.HasSuffix(uri, "/"+string(ref.Name)) || !utf8.ValidString(string(ref.Name)) {
			t.Fatalf("name %q is not the tail of %q", ref.Name, uri)
		}
		for _, seg := range ref.Name.Segments() {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("segment %q in %q", seg, ref.Name)
			}
		}
	})
}

var validEscape = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// FuzzParseName checks that a name ParseName accepts is still one safe path
// when any software decodes its escapes once, however lax that decoder is
// about invalid ones.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"users/alice/x.jpg",
		"users/bob/%zz/%2e%2e/%2e%2e/alice/x.txt",
		"users/alice%2F..%2Fbob/x",
		"a b#c?d%e+ü.txt",
		"100%/%41",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if _, err := ParseName(name); err != nil {
			return
		}
		dec := validEscape.ReplaceAllStringFunc(name, func(e string) string {
			b, _ := strconv.ParseUint(e[1:], 16, 8)
			return string([]byte{byte(b)})
		})
		if strings.Count(dec, "/") != strings.Count(name, "/") || strings.Contains(dec, `\`) {
			t.Fatalf("%q decodes to %q", name, dec)
		}
		for seg := range strings.SplitSeq(dec, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("%q decodes to %q, with segment %q", name, dec, seg)
			}
		}
	})
}
