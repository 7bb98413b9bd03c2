package errs

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxValueLen is how many bytes of an untrusted value Clip keeps.
const MaxValueLen = 200

// Clip shortens an untrusted value (a key id, a header, a claim, a cause
// that quotes one) before it goes into an error or a log line, so that a
// caller cannot make one request write megabytes to the log. A clipped value
// ends in a marker saying how much was left out.
func Clip(s string) string {
	if len(s) <= MaxValueLen {
		return s
	}
	n := MaxValueLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s…[%d more bytes]", s[:n], len(s)-n)
}

// FirstLine keeps the first line of an error's text. The Azure SDK's errors
// go on with a dump of the HTTP exchange, which a log line or a message to
// an operator does not need.
func FirstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
