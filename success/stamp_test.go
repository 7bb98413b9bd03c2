package success

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeOwner(t *testing.T) {
	for id, want := range map[string]string{
		"alice":             "alice",
		"auth0|5f7c8ec7":    "auth0|5f7c8ec7",
		"jos\u00e9":         "base64url:am9zw6k",
		"jose\u0301":        "base64url:am9zZcyB",
		"用户":                "base64url:55So5oi3",
		" padded":           "base64url:IHBhZGRlZA",
		"tab\there":         "base64url:dGFiCWhlcmU",
		"base64url:YWxpY2U": "base64url:YmFzZTY0dXJsOllXeHBZMlU",
	} {
		got := EncodeOwner(id)
		if got != want {
			t.Errorf("EncodeOwner(%q) = %q, want %q", id, got, want)
		}
		if back, err := DecodeOwner(got); err != nil || back != id {
			t.Errorf("DecodeOwner(%q) = %q, %v, want %q", got, back, err, id)
		}
	}
	// A stamp written before the encoding reads as it is.
	if id, err := DecodeOwner("alice"); err != nil || id != "alice" {
		t.Errorf("an old stamp: %q, %v", id, err)
	}
	if _, err := DecodeOwner("base64url:!!"); err == nil {
		t.Error("a broken stamp decoded")
	}
}

// FuzzOwnerStamp: every id is written as printable ASCII that Azure keeps
// as it is, reads back to itself, and no two ids share a stamp; DecodeOwner
// takes any stamp without panicking.
func FuzzOwnerStamp(f *testing.F) {
	for _, s := range []string{"alice", "jos\u00e9", "jose\u0301", "base64url:", "base64url:YWxpY2U", " x", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		_, _ = DecodeOwner(id)
		stamp := EncodeOwner(id)
		if stamp == "" || stamp[0] == ' ' || stamp[len(stamp)-1] == ' ' {
			t.Fatalf("EncodeOwner(%q) = %q", id, stamp)
		}
		for i := 0; i < len(stamp); i++ {
			if stamp[i] < 0x20 || stamp[i] > 0x7e {
				t.Fatalf("EncodeOwner(%q) = %q: not printable ASCII", id, stamp)
			}
		}
		back, err := DecodeOwner(stamp)
		if err != nil || back != id {
			t.Fatalf("DecodeOwner(EncodeOwner(%q)) = %q, %v", id, back, err)
		}
		if id != "" && stamp == id && strings.HasPrefix(id, ownerPrefix) {
			t.Fatalf("%q is written as itself though it has the prefix", id)
		}
	})
}

func TestStampEventFields(t *testing.T) {
	f := eventFields{Name: "cat.png", UUID: "6f1b", Params: map[string]string{"album": "summer", "note": "é"}}
	md := map[string]string{"qqfilename": "cat.png"}
	if err := stampEventFields(md, f); err != nil || md[MetaEventFields] == "" || md[MetaEventSum] != "" {
		t.Fatalf("small fields: %v %v", md, err)
	}
	got, err := decodeEventFields(md[MetaEventFields])
	if err != nil || got.Name != f.Name || got.UUID != f.UUID || len(got.Params) != 2 || got.Params["note"] != "é" {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	big := eventFields{Name: "x", Params: map[string]string{"blob": strings.Repeat("a", 6<<10)}}
	md = map[string]string{"qqfilename": "x"}
	if err := stampEventFields(md, big); err != nil || md[MetaEventFields] != "" || md[MetaEventSum] == "" || metadataSize(md) > MaxMetadataSize {
		t.Fatalf("large fields: %d bytes of metadata, %v", metadataSize(md), err)
	}
	if !sameFields(big, md[MetaEventSum]) || sameFields(eventFields{Name: "y", Params: big.Params}, md[MetaEventSum]) {
		t.Fatal("checksum does not tell the fields apart")
	}
}

// FuzzDecodeEventFields: the event fields stamp is read without panicking,
// and what stampEventFields writes reads back.
func FuzzDecodeEventFields(f *testing.F) {
	f.Add("eyJuYW1lIjoiYSIsInV1aWQiOiJiIiwicGFyYW1zIjp7fX0", "a", "b", "k", "v")
	f.Add("!!", "", "", "", "")
	f.Fuzz(func(t *testing.T, stamp, name, uuid, k, v string) {
		_, _ = decodeEventFields(stamp)
		for _, s := range []string{name, uuid, k, v} {
			if !utf8.ValidString(s) {
				return // JSON keeps only valid UTF-8
			}
		}
		in := eventFields{Name: name, UUID: uuid, Params: map[string]string{k: v}}
		md := map[string]string{}
		if err := stampEventFields(md, in); err != nil {
			t.Fatal(err)
		}
		if md[MetaEventFields] == "" {
			return
		}
		out, err := decodeEventFields(md[MetaEventFields])
		if err != nil || out.Name != name || out.UUID != uuid || len(out.Params) != 1 || out.Params[k] != v {
			t.Fatalf("round trip %+v: %+v, %v", in, out, err)
		}
	})
}
