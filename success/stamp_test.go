package success

import (
	"strings"
	"testing"
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
	if err := stampEventFields(md, f); err != nil || md[MetaEventSum] == "" {
		t.Fatalf("stamp: %v %v", md, err)
	}
	if strings.Contains(md[MetaEventSum], "summer") || len(md) != 2 {
		t.Fatalf("the stamp holds more than the checksum: %v", md)
	}
	if !sameFields(f, md[MetaEventSum]) {
		t.Fatal("the first report's fields do not match their own checksum")
	}
	for _, other := range []eventFields{
		{Name: "dog.png", UUID: f.UUID, Params: f.Params},
		{Name: f.Name, UUID: "6f1c", Params: f.Params},
		{Name: f.Name, UUID: f.UUID, Params: map[string]string{"album": "winter", "note": "é"}},
		{Name: f.Name, UUID: f.UUID, Params: map[string]string{"album": "summer"}},
	} {
		if sameFields(other, md[MetaEventSum]) {
			t.Errorf("%+v passes for the first report's checksum", other)
		}
	}
}

func TestStampedBy(t *testing.T) {
	for _, tc := range []struct {
		md   map[string]string
		user string
		want bool
	}{
		{map[string]string{MetaOwner: "alice"}, "alice", true},
		{map[string]string{"Blobvalet_Owner": "alice"}, "alice", true},
		{map[string]string{MetaOwner: EncodeOwner("zoë")}, "zoë", true},
		{map[string]string{MetaOwner: "zoë"}, "zoë", false},
		{map[string]string{MetaOwner: "alice"}, "bob", false},
		{map[string]string{}, "", false},
		{nil, "alice", false},
	} {
		if got := StampedBy(tc.md, tc.user); got != tc.want {
			t.Errorf("StampedBy(%v, %q) = %v", tc.md, tc.user, got)
		}
	}
}
