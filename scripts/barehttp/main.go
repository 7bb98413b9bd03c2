// Command barehttp answers every request with the same fixed body, for the
// load-test script to compare blobvalet's /sas with a bare net/http handler:
// barehttp ADDR SIZE.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: barehttp ADDR SIZE")
		os.Exit(2)
	}
	size, err := strconv.Atoi(os.Args[2])
	if err != nil || size < 0 {
		log.Fatalf("barehttp: size %q is not a byte count", os.Args[2])
	}
	body := strings.Repeat("x", size)
	log.Fatal(http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write([]byte(body))
	})))
}
