package traditional

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// drain reads o as a storage client does: the length by seeking, then
// the body.
func drain(t *testing.T, o *oneShot) ([]byte, error) {
	t.Helper()
	if cur, err := o.Seek(0, io.SeekCurrent); err != nil || cur != 0 {
		t.Fatalf("Seek(0, SeekCurrent) = %d, %v", cur, err)
	}
	if end, err := o.Seek(0, io.SeekEnd); err != nil || end != o.n {
		t.Fatalf("Seek(0, SeekEnd) = %d, %v; want %d", end, err, o.n)
	}
	if _, err := o.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return io.ReadAll(o)
}

func TestOneShot(t *testing.T) {
	data := []byte("0123456789")
	for _, tc := range []struct {
		name string
		src  io.Reader
		n    int64
		want error
	}{
		{"exact", bytes.NewReader(data), 10, nil},
		{"exact, one byte a read", iotest.OneByteReader(bytes.NewReader(data)), 10, nil},
		{"exact, data with EOF", iotest.DataErrReader(bytes.NewReader(data)), 10, nil},
		{"one byte", bytes.NewReader(data[:1]), 1, nil},
		{"short", bytes.NewReader(data), 11, ErrShortPart},
		{"short by many", bytes.NewReader(data), 100, ErrShortPart},
		{"long by one", bytes.NewReader(data), 9, ErrLongPart},
		{"long", bytes.NewReader(data), 3, ErrLongPart},
		{"source fails", iotest.TimeoutReader(bytes.NewReader(data)), 10, iotest.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOneShot(tc.src, tc.n)
			got, err := drain(t, o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == nil && !bytes.Equal(got, data[:tc.n]) {
				t.Fatalf("got %q", got)
			}
			if tc.want != nil && int64(len(got)) >= tc.n {
				t.Fatalf("handed out all %d bytes of a bad part", len(got))
			}
		})
	}
}

// A retry of a half-sent block would send other bytes: the body refuses
// to be rewound once read.
func TestOneShotRefusesRewind(t *testing.T) {
	o := newOneShot(strings.NewReader("0123456789"), 10)
	b := make([]byte, 4)
	if _, err := o.Read(b); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Seek(0, io.SeekStart); !errors.Is(err, errRewind) {
		t.Fatalf("rewind after a read: %v", err)
	}
	if pos, err := o.Seek(0, io.SeekCurrent); err != nil || pos != 4 {
		t.Fatalf("position %d, %v", pos, err)
	}
	if _, err := io.ReadAll(o); err != nil {
		t.Fatal(err)
	}
	// Read from the end without rewinding: refused, not an empty body.
	p := newOneShot(strings.NewReader("abc"), 3)
	p.Seek(0, io.SeekEnd)
	if _, err := p.Read(b); !errors.Is(err, errRewind) {
		t.Fatalf("read at the end: %v", err)
	}
}

func TestBlockID(t *testing.T) {
	u, err := ParseUUID("0b472b64-1f67-4a58-add2-09137b37f3e4")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ParseUUID("5b3f0976-b4fe-4101-9386-8b3d46352a48")
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 255, 256, MaxParts - 1} {
		id := BlockID(u, i)
		if len(id) != blockIDLen || seen[id] {
			t.Fatalf("part %d: id %q", i, id)
		}
		seen[id] = true
		if got, ok := partOf(u, id); !ok || got != i {
			t.Fatalf("partOf(%q) = %d, %v", id, got, ok)
		}
		if _, ok := partOf(v, id); ok {
			t.Fatal("another upload's block taken for this one's")
		}
	}
	if _, ok := partOf(u, "MDAwMDE="); ok { // Fine Uploader Azure's ids
		t.Fatal("a foreign id taken for a part")
	}
	for _, bad := range []string{"", "0B472B64-1F67-4A58-ADD2-09137B37F3E4", "0b472b64-1f67-1a58-add2-09137b37f3e4", "../../x", "0b472b64-1f67-4a58-add2-09137b37f3e4\n"} {
		if _, err := ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q) passed", bad)
		}
	}
}
