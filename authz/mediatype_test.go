package authz

import (
	"strings"
	"testing"
)

func TestParseMediaType(t *testing.T) {
	good := map[string]string{
		"image/png":                         "image/png",
		"Image/PNG":                         "image/png",
		" image/png ":                       "image/png",
		"text/plain; charset=utf-8":         "text/plain",
		"text/plain;charset=\"utf-8\"":      "text/plain",
		"image/png;":                        "image/png",
		"application/vnd.ms-excel":          "application/vnd.ms-excel",
		"application/x-www-form-urlencoded": "application/x-www-form-urlencoded",
		"text/plain; name=\"a,b\"":          "text/plain",
	}
	for in, want := range good {
		if got, err := ParseMediaType(in); err != nil || got != want {
			t.Errorf("ParseMediaType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"image/x-foo, text/html",
		"image/png,text/html",
		"image/png; charset=utf-8, text/html",
		"text",
		"image/",
		"/png",
		"image/x{foo}",
		"image /png",
		"image/png; a=b; a=c",
		"image/png\x00",
		"image/png\r\n",
		"image/pngé",
		"image/png; =x",
		"image/png/x",
		"image/png x",
	} {
		if got, err := ParseMediaType(in); err == nil {
			t.Errorf("ParseMediaType(%q) = %q, want an error", in, got)
		}
	}
}

func FuzzParseMediaType(f *testing.F) {
	for _, s := range []string{"image/png", "text/plain; charset=utf-8", "image/x-foo, text/html", "text", "a/b;c=\"d,e\"", "image/x{a}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mt, err := ParseMediaType(s)
		if err != nil {
			return
		}
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok || !isToken(typ) || !isToken(sub) || mt != strings.ToLower(mt) {
			t.Fatalf("ParseMediaType(%q) = %q: not one lower-case type/subtype of tokens", s, mt)
		}
		if again, err := ParseMediaType(mt); err != nil || again != mt {
			t.Fatalf("ParseMediaType(%q) = %q, %v; it came from %q", mt, again, err, s)
		}
		if MediaType(s) != mt {
			t.Fatalf("MediaType(%q) = %q, ParseMediaType = %q", s, MediaType(s), mt)
		}
	})
}
