package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHostGuard(t *testing.T) {
	h := HostGuard("127.0.0.1:8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for host, want := range map[string]int{
		"127.0.0.1:8080":        204,
		"localhost:8080":        204,
		"LOCALHOST:8080":        204,
		"[::1]:8080":            204,
		"127.0.0.1:9090":        421,
		"evil.example:8080":     421,
		"rebind.example.com":    421,
		"127.0.0.1.nip.io:8080": 421,
		"":                      421,
	} {
		r := httptest.NewRequest("GET", "/demo.json", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}
