package doccheck

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRepositoryLinks checks every relative link and anchor in the
// repository's Markdown. It reads only files, so it runs under -short too.
func TestRepositoryLinks(t *testing.T) {
	problems, err := Check(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("broken link: %s", p)
	}
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Verified uploads only: staging and promotion": "verified-uploads-only-staging-and-promotion",
		"Try it: `blobvalet dev`":                      "try-it-blobvalet-dev",
		"`blobvalet version` and `blobvalet check`":    "blobvalet-version-and-blobvalet-check",
		"Who is who: one user-id namespace":            "who-is-who-one-user-id-namespace",
		"Without the plugin: `@uppy/xhr-upload`":       "without-the-plugin-uppyxhr-upload",
		"TLS & limits (v1.2)":                          "tls--limits-v12",
		"snake_case Über":                              "snake_case-über",
		"See [the queue](webhooks.md#queue)":           "see-the-queue",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

const page = "# Title\n" +
	"\n" +
	"See [the setup](#setup), [a page](other.md#part-two) and\n" +
	"[a heading that is\nnot there](#nowhere). ![shot](demo.png \"The demo\")\n" +
	"`[not a link](#code)` and [site](https://example.com/#x).\n" +
	"\n" +
	"```md\n" +
	"[in a fence](#fenced)\n" +
	"# Not a heading\n" +
	"```\n" +
	"\n" +
	"## Setup\n" +
	"## Setup\n" +
	"[ref]: <docs/ref.md#setup>\n"

func TestLinks(t *testing.T) {
	got := Links(page)
	want := []Link{
		{"#setup", 3}, {"other.md#part-two", 3}, {"#nowhere", 5}, {"demo.png", 5},
		{"https://example.com/#x", 6}, {"docs/ref.md#setup", 15},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Links =\n%v\nwant\n%v", got, want)
	}
}

func TestAnchors(t *testing.T) {
	got := Anchors(page)
	want := map[string]bool{"title": true, "setup": true, "setup-1": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Anchors = %v, want %v", got, want)
	}
}

// TestCheckFindsBrokenLinks runs Check over a small tree holding one of each
// kind of broken link, and a node_modules page it must not read.
func TestCheckFindsBrokenLinks(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", page)
	write("demo.png", "")
	write("other.md", "# Part one\n## Part two\n[up](README.md#title) [gone](missing.md) [out](../x.md)\n")
	write("docs/ref.md", "# Setup\n[back](../README.md#setup-1) [wrong](../other.md#part-three)\n")
	write("node_modules/pkg/README.md", "[broken](nothing.md)\n")

	problems, err := Check(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"README.md:5: #nowhere: no heading in README.md has the anchor #nowhere",
		"docs/ref.md:2: ../other.md#part-three: no heading in other.md has the anchor #part-three",
		"other.md:3: missing.md: no such file or directory",
		"other.md:3: ../x.md: points outside the repository",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Check found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
