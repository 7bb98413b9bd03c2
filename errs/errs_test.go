package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestMatch(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", Wrap("success.promote", Exists, "taken", errors.New("412")).Final())
	for _, tt := range []struct {
		name     string
		template *Error
		want     bool
	}{
		{"kind and flag", &Error{Kind: Exists, PreventRetry: true}, true},
		{"op, message and cause", &Error{Kind: Exists, Op: "success.promote", Msg: "taken", Err: errors.New("412"), PreventRetry: true}, true},
		{"other kind", &Error{Kind: Conflict, PreventRetry: true}, false},
		{"flag left out", &Error{Kind: Exists}, false},
		{"other flag", &Error{Kind: Exists, PreventRetry: true, Reset: true}, false},
		{"other message", &Error{Kind: Exists, Msg: "changed", PreventRetry: true}, false},
		{"other cause", &Error{Kind: Exists, Err: errors.New("409"), PreventRetry: true}, false},
	} {
		if got := Match(tt.template, err); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
	if Match(&Error{Kind: Internal}, errors.New("plain")) {
		t.Error("a plain error matched")
	}
	if e := E("op", NotFound, "gone").Restart(); !e.Reset || e.PreventRetry {
		t.Errorf("Restart: %#v", e)
	}
}
