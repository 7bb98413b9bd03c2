package success

import (
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/blobref"
)

func TestUploaderMetadataKeepsOnlyWellFormed(t *testing.T) {
	in := map[string]string{
		"Qqfilename":      "my%20pic.PNG",
		"Qquuid":          "6f1b-uuid",
		"Album":           "summer",
		"_tag2":           "x",
		"Blobvalet_owner": "mallory",
		"2fast":           "starts with a digit",
		"bad-name":        "a dash",
		"näme":            "non-ASCII name",
		"control":         "a\x01b",
		"nonascii":        "caf\xc3\xa9",
		"long":            strings.Repeat("v", MaxMetadataValueLen+1),
		strings.Repeat("k", MaxMetadataNameLen+1): "long name",
	}
	got := uploaderMetadata(in, "users/alice/pic.png")
	want := map[string]string{"qqfilename": "my%20pic.PNG", "qquuid": "6f1b-uuid", "album": "summer", "_tag2": "x"}
	if len(got) != len(want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestQQFileNameMustMatchTheBlob(t *testing.T) {
	tests := []struct {
		value, final string
		keep         bool
	}{
		{"pic.png", "users/alice/pic.png", true},
		{"holiday%20photo.jpg", "users/alice/6f1b.jpg", true},
		{"a.tar.gz", "users/alice/6f1b.gz", true},
		{"noext", "users/alice/6f1b", true},
		{"%E7%94%A8%E6%88%B7.png", "users/alice/x.png", true},
		{"evil.html", "users/alice/pic.png", false},
		{"pic.png.html", "users/alice/pic.png", false},
		{"..%2F..%2Fetc%2Fpasswd", "users/alice/passwd", false},
		{"a%5Cb.png", "users/alice/b.png", false},
		{"a%0Ab.png", "users/alice/b.png", false},
		{"%zz.png", "users/alice/b.png", false},
		{"%FF.png", "users/alice/b.png", false},
		{"", "users/alice/b", false},
	}
	for _, tt := range tests {
		got := uploaderMetadata(map[string]string{"qqfilename": tt.value}, blobref.Name(tt.final))
		if _, kept := got["qqfilename"]; kept != tt.keep {
			t.Errorf("qqfilename %q for %s: kept %v, want %v", tt.value, tt.final, kept, tt.keep)
		}
	}
}

func TestUploaderMetadataIsBounded(t *testing.T) {
	in := map[string]string{}
	for i := range 26 {
		in["p"+string(rune('a'+i))] = strings.Repeat("v", 500)
	}
	got := uploaderMetadata(in, "x.png")
	total := 0
	for k, v := range got {
		total += len(k) + len(v)
	}
	if total > MaxUploaderMetadata || len(got) != MaxUploaderMetadata/502 {
		t.Errorf("kept %d pairs, %d bytes; want at most %d bytes, the first pairs by name", len(got), total, MaxUploaderMetadata)
	}
	if _, ok := got["pa"]; !ok {
		t.Error("the first pair by name was dropped")
	}
}
