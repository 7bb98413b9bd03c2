package blobstore

import (
	"errors"
	"fmt"
	"testing"
)

// TestSentinelsClassify: a fake store's bare sentinel classifies as the
// adapter's *Error does, and an *Error is its class's sentinel only.
func TestSentinelsClassify(t *testing.T) {
	for c := range classes {
		class := Class(c)
		s := class.Sentinel()
		if s == nil {
			continue
		}
		if got := Classify(fmt.Errorf("op: %w", s)); got != class {
			t.Errorf("Classify(%v) = %v, want %v", s, got, class)
		}
		e := &Error{Class: class, Status: 409, Code: "Code", Err: errors.New("cause")}
		if !errors.Is(fmt.Errorf("op: %w", e), s) {
			t.Errorf("%v is not %v", class, s)
		}
		for o := range classes {
			if other := Class(o).Sentinel(); other != nil && !errors.Is(other, s) && errors.Is(e, other) {
				t.Errorf("%v is also %v", class, other)
			}
		}
		if w := Wrap(s); !errors.Is(w, s) || Classify(w) != class {
			t.Errorf("Wrap(%v) = %v", s, w)
		}
	}
	if Classify(errors.New("x")) != Failed || Wrap(nil) != nil {
		t.Error("an unknown error is not Failed, or Wrap(nil) is not nil")
	}
	var e *Error
	if w := Wrap(ErrThrottled); !errors.As(w, &e) || w.Error() != "storage is throttling blobvalet" {
		t.Errorf("Wrap(ErrThrottled) = %q", w)
	}
}
