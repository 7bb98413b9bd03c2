package origin

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"https://app.example.com":     "https://app.example.com",
		"HTTPS://App.Example.COM":     "https://app.example.com",
		"http://127.0.0.1:8080":       "http://127.0.0.1:8080",
		"https://app.example.com:443": "https://app.example.com",
		"http://app.example.com:80":   "http://app.example.com",
		"http://app.example.com:443":  "http://app.example.com:443",
		"http://[::1]:8080":           "http://[::1]:8080",
		"*":                           "*",
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"https://*.example.com":                "wildcards",
		"https://app.*":                        "wildcards",
		"https://app.example.com/":             "no path",
		"https://app.example.com/x":            "no path",
		"app.example.com":                      "scheme://host",
		"ftp://a.example":                      "scheme://host",
		"https://a.example?":                   "scheme://host",
		"https://a.example#x":                  "scheme://host",
		"https://u@a.example":                  "scheme://host",
		"https://a.example, https://b.example": "scheme://host",
		"https://bücher.example":               "xn--",
		"https://a.example:":                   "empty port",
		"":                                     "scheme://host",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Parse(%q) error %v, want one saying %q", in, err, why)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "http://127.0.0.1:8080", "*", "https://a/b", "https://a.example?x", "https://*.a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(s)
		if err != nil || o == Any {
			return
		}
		if strings.ContainsAny(o, "*?#, ") || strings.Count(o, "/") != 2 || o != strings.ToLower(o) {
			t.Fatalf("Parse(%q) = %q", s, o)
		}
		if again, err := Parse(o); err != nil || again != o {
			t.Fatalf("Parse(%q) = %q, but Parse(%q) = %q, %v", s, o, o, again, err)
		}
	})
}
