package main

import (
	"context"
	"fmt"
	"io"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "blobvalet dev: not available yet")
	return 1
}
