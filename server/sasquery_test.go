package server

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzScanSASQueryMatchesParseQuery checks that the signature query is
// read as url.ParseQuery reads it: the same failures, and the same number
// and first value of bloburi and _method.
func FuzzScanSASQueryMatchesParseQuery(f *testing.F) {
	for _, s := range []string{
		strings.TrimPrefix(sasQuery(endpoint+"/uploads/users/alice/a b#c?d%e+ü.txt", "PUT"), "/sas?"),
		"bloburi=%zz&_method=PUT", "bloburi=a&bloburi=b&_method=DELETE", ";;&&==", "blob%75ri=x&%5Fmethod=PUT",
		"bloburi=a+b%2B&_method", "bloburi&_method=&x=%", "x=1;y=2&bloburi=a", "bloburi=%e2%82%ac&_method=%",
		strings.Repeat("&", maxScannedParams) + "bloburi=a", strings.Repeat("x=1&", 10001),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, wantErr := url.ParseQuery(raw)
		got, err := scanSASQuery(raw)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, url.ParseQuery's %v", raw, err, wantErr)
		}
		if err != nil {
			return
		}
		for _, p := range []struct {
			key   string
			n     int
			first string
		}{{"bloburi", got.blobURIs, got.blobURI}, {"_method", got.methods, got.method}} {
			vs := want[p.key]
			if p.n != len(vs) || len(vs) > 0 && p.first != vs[0] {
				t.Fatalf("%q: %s %d× first %q, url.ParseQuery %q", raw, p.key, p.n, p.first, vs)
			}
		}
	})
}

// TestScanSASQueryAllocations pins that a usual signature query is read
// without allocating beyond unescaping the blob URI.
func TestScanSASQueryAllocations(t *testing.T) {
	raw := strings.TrimPrefix(sasQuery(endpoint+"/uploads/users/alice/x.jpg", "PUT"), "/sas?")
	if n := testing.AllocsPerRun(100, func() { scanSASQuery(raw) }); n > 1 {
		t.Errorf("%v allocations, want at most 1", n)
	}
}
