package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/blobvalet/blobvalet/bytesize"
)

// Duration is a time.Duration written in YAML as "10m", "90s" or "1h".
// A bare number is refused: its unit would be a guess.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("want a duration such as 10m, got %q", n.Value)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration with a unit such as 10m or 90s, got %q", s)
	}
	if v <= 0 {
		return fmt.Errorf("want a duration above zero, got %q (leave the field out for its default)", s)
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size in bytes written in YAML as "10MiB", "500KB" or "1GiB".
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseByteSize parses sizes such as "10MiB", "1.5GB" or "512B": a whole
// number of bytes, at least one. A size of zero is refused rather than read
// as "no limit".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			break
		}
		switch n := f * float64(u.mult); {
		case n < 1:
			return 0, fmt.Errorf("want a size of at least 1B, got %q (leave the field out for the default)", s)
		case n > 1<<62:
			return 0, fmt.Errorf("want a size below 4EiB, got %q", s)
		case n != math.Trunc(n):
			return 0, fmt.Errorf("want a whole number of bytes, got %q", s)
		default:
			return ByteSize(n), nil
		}
	}
	return 0, fmt.Errorf("want a size with a unit such as 10MiB or 500KB, got %q", s)
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String formats the size with the largest binary unit that fits, e.g. "10 MiB".
func (b ByteSize) String() string {
	return bytesize.Binary(int64(b))
}
