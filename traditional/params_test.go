package traditional

import (
	"net/url"
	"strings"
	"testing"

	"github.com/blobvalet/blobvalet/errs"
)

const testUUID = "0b472b64-1f67-4a58-add2-09137b37f3e4"

func chunkQuery(extra string) string {
	return "qquuid=" + testUUID + "&qqfilename=big+%C3%BC.bin&qqtotalfilesize=350000&qqtotalparts=4&" + extra
}

func TestParsePart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string
		size  int64
		kind  errs.Kind // 0 with msg "" = passes
		msg   string
	}{
		{"chunk", chunkQuery("qqpartindex=1&qqpartbyteoffset=100000&qqchunksize=100000&album=summer"), -1, 0, ""},
		{"last chunk", chunkQuery("qqpartindex=3&qqpartbyteoffset=300000&qqchunksize=50000"), -1, 0, ""},
		{"raw chunk", chunkQuery("qqpartindex=3&qqpartbyteoffset=300000&qqchunksize=50000&qqfile=big+%C3%BC.bin"), 50000, 0, ""},
		{"raw chunk, other length", chunkQuery("qqpartindex=3&qqpartbyteoffset=300000&qqchunksize=50000"), 49999, errs.Invalid, "body has 49999"},
		{"whole file", "qquuid=" + testUUID + "&qqfilename=a.png&qqtotalfilesize=1500", -1, 0, ""},
		{"whole raw file", "qquuid=" + testUUID + "&qqfilename=a.png&qqfile=a.png", 1500, 0, ""},
		{"empty file", "qquuid=" + testUUID + "&qqfilename=a.txt&qqtotalfilesize=0", -1, 0, ""},
		{"no uuid", "qqfilename=a.png&qqtotalfilesize=1", -1, errs.Invalid, "qquuid"},
		{"two uuids", "qquuid=" + testUUID + "&qquuid=" + testUUID + "&qqfilename=a.png&qqtotalfilesize=1", -1, errs.Invalid, "qquuid"},
		{"bad uuid", "qquuid=../../etc&qqfilename=a.png&qqtotalfilesize=1", -1, errs.Invalid, "UUID"},
		{"path in name", "qquuid=" + testUUID + "&qqfilename=a/b.png&qqtotalfilesize=1", -1, errs.Invalid, "qqfilename"},
		{"control in name", "qquuid=" + testUUID + "&qqfilename=a%0A.png&qqtotalfilesize=1", -1, errs.Invalid, "qqfilename"},
		{"index past the end", chunkQuery("qqpartindex=4&qqpartbyteoffset=400000&qqchunksize=1"), -1, errs.Invalid, "qqpartindex"},
		{"negative index", chunkQuery("qqpartindex=-1&qqpartbyteoffset=0&qqchunksize=1"), -1, errs.Invalid, "qqpartindex"},
		{"zero chunk", chunkQuery("qqpartindex=0&qqpartbyteoffset=0&qqchunksize=0"), -1, errs.Invalid, "qqchunksize"},
		{"chunk over the limit", chunkQuery("qqpartindex=0&qqpartbyteoffset=0&qqchunksize=200001"), -1, errs.TooLarge, "lower chunking.partSize"},
		{"too many parts", "qquuid=" + testUUID + "&qqfilename=a&qqtotalfilesize=50001&qqtotalparts=50001&qqpartindex=0&qqpartbyteoffset=0&qqchunksize=1", -1, errs.TooLarge, "raise chunking.partSize"},
		{"offset off", chunkQuery("qqpartindex=1&qqpartbyteoffset=99999&qqchunksize=100000"), -1, errs.Invalid, "qqpartbyteoffset"},
		{"last part short of the end", chunkQuery("qqpartindex=3&qqpartbyteoffset=300000&qqchunksize=40000"), -1, errs.Invalid, "end at qqtotalfilesize"},
		{"not a number", chunkQuery("qqpartindex=1e2&qqpartbyteoffset=0&qqchunksize=1"), -1, errs.Invalid, "qqpartindex"},
		{"whole file over the limit", "qquuid=" + testUUID + "&qqfilename=a.png&qqtotalfilesize=200001", -1, errs.TooLarge, "turn on chunking"},
		{"raw size disagrees", "qquuid=" + testUUID + "&qqfilename=a.png&qqtotalfilesize=5", 6, errs.Invalid, "body has 6"},
		{"no size at all", "qquuid=" + testUUID + "&qqfilename=a.png", -1, errs.Invalid, "qqtotalfilesize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParsePart(v, tc.size, 200_000)
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.UUID.String() != testUUID {
					t.Fatalf("uuid %q", p.UUID)
				}
				return
			}
			if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v (%v), want %v with %q", err, errs.KindOf(err), tc.kind, tc.msg)
			}
		})
	}
	v, _ := url.ParseQuery(chunkQuery("qqpartindex=1&qqpartbyteoffset=100000&qqchunksize=100000&album=summer&qqresume=true"))
	p, _ := ParsePart(v, -1, 200_000)
	if !p.Chunked || !p.Resume || p.Index != 1 || p.Total != 4 || p.FileName != "big ü.bin" || len(p.Params) != 1 || p.Params["album"] != "summer" {
		t.Fatalf("%+v", p)
	}
}

func TestParseDone(t *testing.T) {
	v, _ := url.ParseQuery("album=summer&qquuid=" + testUUID + "&qqfilename=c.bin&qqtotalfilesize=550000&qqtotalparts=6")
	d, err := ParseDone(v)
	if err != nil || d.Total != 6 || d.FileSize != 550000 || d.Params["album"] != "summer" {
		t.Fatalf("%+v %v", d, err)
	}
	v.Set("qqtotalparts", "0")
	if _, err := ParseDone(v); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("zero parts: %v", err)
	}
}

// FuzzParsePart feeds ParsePart any query, as raw mode takes it: it never
// panics, and what it accepts is consistent.
func FuzzParsePart(f *testing.F) {
	f.Add(chunkQuery("qqpartindex=1&qqpartbyteoffset=100000&qqchunksize=100000"), int64(-1))
	f.Add("qquuid="+testUUID+"&qqfilename=a.png&qqfile=a.png", int64(1500))
	f.Add("qquuid="+testUUID+"&qqfilename=a&qqtotalfilesize=9&qqtotalparts=3&qqpartindex=2&qqpartbyteoffset=6&qqchunksize=3", int64(3))
	f.Fuzz(func(t *testing.T, query string, size int64) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		const maxChunk = 1 << 20
		p, err := ParsePart(v, size, maxChunk)
		if err != nil {
			if errs.KindOf(err) != errs.Invalid && errs.KindOf(err) != errs.TooLarge {
				t.Fatalf("kind %v: %v", errs.KindOf(err), err)
			}
			return
		}
		if p.UUID.IsZero() || p.Size < 0 || p.Size > maxChunk || p.Index < 0 || p.Index >= p.Total || p.Total > MaxParts {
			t.Fatalf("accepted %+v", p)
		}
		if !p.Chunked && p.Size != p.FileSize {
			t.Fatalf("whole file of %d bytes, file size %d", p.Size, p.FileSize)
		}
		if p.Chunked && p.Size == 0 {
			t.Fatal("an empty chunk")
		}
		if _, err := ParseDone(v); err != nil && errs.KindOf(err) != errs.Invalid {
			t.Fatal(err)
		}
	})
}
