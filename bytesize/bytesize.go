// Package bytesize formats byte counts for people: limits in binary units,
// as the configuration writes them ("10 MiB"), and file sizes in decimal
// units, as file managers show them ("12.4 MB").
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

// Binary formats n with the largest binary unit that fits: "512 B",
// "10 MiB", "1.5 GiB".
func Binary(n int64) string {
	return format(n, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB"}, true)
}

// Decimal formats n with the largest decimal unit that fits, one decimal:
// "512 B", "12.4 MB".
func Decimal(n int64) string {
	return format(n, 1000, []string{"B", "KB", "MB", "GB", "TB"}, false)
}

func format(n int64, base float64, units []string, trimZero bool) string {
	f, i := float64(n), 0
	for f >= base && i < len(units)-1 {
		f /= base
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	if trimZero {
		s = strings.TrimSuffix(s, ".0")
	}
	return s + " " + units[i]
}
