package events

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	in := envelope{ID: "ev1", Target: "photos", Body: json.RawMessage(`{"id":"ev1","blob":"a b.jpg"}`)}
	text, err := encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base64.StdEncoding.DecodeString(text); err != nil {
		t.Fatalf("message is not base64: %v", err)
	}
	out, err := decode(text)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Target != in.Target || string(out.Body) != string(in.Body) || out.V != 1 {
		t.Fatalf("decoded %+v, want %+v", out, in)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, text := range []string{
		"not base64!",
		base64.StdEncoding.EncodeToString([]byte("not json")),
		base64.StdEncoding.EncodeToString([]byte(`{"v":2,"id":"x","body":{}}`)),
		base64.StdEncoding.EncodeToString([]byte(`{"v":1,"body":{}}`)),
		base64.StdEncoding.EncodeToString([]byte(`{"v":1,"id":"x"}`)),
	} {
		if _, err := decode(text); err == nil {
			t.Errorf("decode(%q) accepted", text)
		}
	}
}

func TestTooLarge(t *testing.T) {
	body := `{"x":"` + strings.Repeat("a", 48<<10) + `"}`
	_, err := encode(envelope{ID: "big", Body: json.RawMessage(body)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	if _, err := encode(envelope{ID: "fits", Body: json.RawMessage(body[:40<<10] + `"}`)}); err != nil {
		t.Fatalf("a 40 KiB body: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	top := Backoff{Base: time.Second, Max: time.Minute, Rand: func() float64 { return 0 }}
	bottom := top
	bottom.Rand = func() float64 { return 0.999999 }
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 32 * time.Second, 7: time.Minute, 100: time.Minute} {
		if got := top.Delay(n); got != want {
			t.Errorf("Delay(%d) without jitter = %v, want %v", n, got, want)
		}
		if got := bottom.Delay(n); got < want/2 || got > want/2+time.Millisecond {
			t.Errorf("Delay(%d) with most jitter = %v, want about %v", n, got, want/2)
		}
	}
	for n := 1; n <= 12; n++ {
		if d := DefaultBackoff(n); d < 5*time.Second || d > 15*time.Minute {
			t.Errorf("DefaultBackoff(%d) = %v", n, d)
		}
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"blobvalet-events": true, "abc": true, "ab": false, "Events": false, "a--b": false,
		"-ab": false, "ab-": false, strings.Repeat("a", 58): true, strings.Repeat("a", 59): false,
	} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

// TestCheckEventLeavesRoomForTheDeadLetter: the largest event CheckEvent
// passes still fits the queue as a dead letter with the longest error,
// escaped at its worst; the next byte is refused.
func TestCheckEventLeavesRoomForTheDeadLetter(t *testing.T) {
	body := func(n int) json.RawMessage { return json.RawMessage(`"` + strings.Repeat("a", n) + `"`) }
	lo, hi := 0, 48<<10
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if CheckEvent(Event{ID: "evt_1", Target: "photos", Body: body(mid)}) == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	t.Logf("largest body CheckEvent passes: %d bytes", lo+2)
	if lo < 40<<10 {
		t.Errorf("only %d bytes of body pass", lo)
	}
	now := time.Now()
	dead := envelope{ID: "evt_1", Target: "photos", Body: body(lo), Attempts: 1 << 40, Error: clipError(strings.Repeat("\x00", 10_000)), DeadAt: &now}
	if _, err := encode(dead); err != nil {
		t.Fatalf("the dead letter of the largest event: %v", err)
	}
	err := CheckEvent(Event{ID: "evt_1", Target: "photos", Body: body(lo + 1)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte more: %v, want ErrTooLarge", err)
	}
	if _, err := encode(envelope{ID: "evt_1", Target: "photos", Body: body(lo + 1)}); err != nil {
		t.Fatalf("one byte more still fits a message on its own: %v", err)
	}
	if CheckEvent(Event{Body: body(1)}) == nil || CheckEvent(Event{ID: "x", Body: json.RawMessage("{")}) == nil {
		t.Error("an event without an id or with a broken body passes")
	}
}

func TestClipError(t *testing.T) {
	for _, s := range []string{"short", strings.Repeat("é", 1000), strings.Repeat("a", 2000)} {
		got := clipError(s)
		if len(got) > MaxDeadLetterError || !utf8.ValidString(got) || (len(s) > MaxDeadLetterError) != strings.HasSuffix(got, "…[cut]") {
			t.Errorf("clipError(%d bytes) = %d bytes %q…", len(s), len(got), got[:10])
		}
	}
}
