package web

import (
	"net"
	"net/http"
	"strings"
)

// HostGuard answers 421 to a request whose Host is not one of the names the
// demo is served under. A web page on another site can point a DNS name of
// its own at 127.0.0.1 ("DNS rebinding") and so reach a service on loopback
// from the visitor's browser, with the page's own origin; it cannot make
// the browser send a loopback Host. The demo hands out its users' tokens,
// so it answers only to the names it was started under.
func HostGuard(listen string, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	if host, port, err := net.SplitHostPort(listen); err == nil {
		for _, h := range []string{host, "localhost", "127.0.0.1", "[::1]"} {
			allowed[strings.ToLower(h)+":"+port] = true
		}
		allowed[strings.ToLower(net.JoinHostPort(host, port))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed[strings.ToLower(r.Host)] {
			http.Error(w, "blobvalet dev answers only to the address it listens on (a guard against DNS rebinding)", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}
