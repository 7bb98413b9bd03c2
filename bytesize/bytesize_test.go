package bytesize

import "testing"

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 512: "512 B", 10 << 20: "10 MiB", 3 << 29: "1.5 GiB", 1536: "1.5 KiB"} {
		if got := Binary(n); got != want {
			t.Errorf("Binary(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{999: "999 B", 12_400_000: "12.4 MB", 1000: "1.0 KB", 1_200_000: "1.2 MB"} {
		if got := Decimal(n); got != want {
			t.Errorf("Decimal(%d) = %q, want %q", n, got, want)
		}
	}
}
