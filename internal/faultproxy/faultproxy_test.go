package faultproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// target is an HTTP server that counts the requests it receives.
func target(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func start(t *testing.T, srv *httptest.Server) *Proxy {
	p, err := Start(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func get(c *http.Client, p *Proxy) (string, error) {
	resp, err := c.Post("http://"+p.Addr()+"/x", "text/plain", strings.NewReader("hello"))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func set(t *testing.T, p *Proxy, m Mode, d time.Duration) {
	t.Helper()
	if err := p.Set(m, d); err != nil {
		t.Fatal(err)
	}
}

func TestPass(t *testing.T) {
	srv, n := target(t)
	p := start(t, srv)
	c := &http.Client{}
	for range 3 {
		if body, err := get(c, p); err != nil || body != "ok" {
			t.Fatalf("through the proxy: %q, %v", body, err)
		}
	}
	if n.Load() != 3 || p.Accepted() != 1 {
		t.Fatalf("target saw %d requests over %d connections, want 3 over 1 (keep-alive)", n.Load(), p.Accepted())
	}
}

// TestRefuse: connecting is refused and a pooled connection is cut; back
// in Pass, the same address works again.
func TestRefuse(t *testing.T) {
	srv, n := target(t)
	p := start(t, srv)
	c := &http.Client{}
	if _, err := get(c, p); err != nil {
		t.Fatal(err)
	}
	set(t, p, Refuse, 0)
	if _, err := get(c, p); err == nil {
		t.Fatal("a pooled connection still works in Refuse")
	}
	_, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial in Refuse: %v, want connection refused", err)
	}
	set(t, p, Pass, 0)
	if body, err := get(&http.Client{}, p); err != nil || body != "ok" {
		t.Fatalf("after Refuse: %q, %v", body, err)
	}
	if n.Load() != 2 {
		t.Fatalf("target saw %d requests, want 2", n.Load())
	}
}

// TestReset: a request is answered with a TCP reset and never reaches the
// target.
func TestReset(t *testing.T) {
	srv, n := target(t)
	p := start(t, srv)
	set(t, p, Reset, 0)
	_, err := get(&http.Client{}, p)
	if err == nil {
		t.Fatal("a request went through in Reset")
	}
	var op *net.OpError
	if !errors.As(err, &op) && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("error %v, want a connection reset", err)
	}
	if n.Load() != 0 {
		t.Fatalf("target saw %d requests", n.Load())
	}
}

// TestDelay: each request is held for at least the delay.
func TestDelay(t *testing.T) {
	srv, _ := target(t)
	p := start(t, srv)
	set(t, p, Delay, 200*time.Millisecond)
	begin := time.Now()
	if body, err := get(&http.Client{}, p); err != nil || body != "ok" {
		t.Fatalf("in Delay: %q, %v", body, err)
	}
	if took := time.Since(begin); took < 200*time.Millisecond {
		t.Fatalf("answered in %v, before the delay", took)
	}
	if p.Mode() != Delay || p.Mode().String() != "delay" {
		t.Fatalf("mode %v", p.Mode())
	}
}

// TestBlackHole: the connection is accepted and the request never reaches
// the target; the client's own deadline ends the wait.
func TestBlackHole(t *testing.T) {
	srv, n := target(t)
	p := start(t, srv)
	set(t, p, BlackHole, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr()+"/x", nil)
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the client's deadline", err)
	}
	if n.Load() != 0 || p.Accepted() != 1 {
		t.Fatalf("target saw %d requests, proxy accepted %d connections; want 0 and 1", n.Load(), p.Accepted())
	}
}

// TestCloseLeavesNothing: Close ends every connection and goroutine.
func TestCloseLeavesNothing(t *testing.T) {
	srv, _ := target(t)
	p := start(t, srv)
	if _, err := get(&http.Client{}, p); err != nil {
		t.Fatal(err)
	}
	set(t, p, BlackHole, 0)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	p.Close()
	if p.Open() != 0 {
		t.Fatalf("%d connections open after Close", p.Open())
	}
	if err := p.Set(Pass, 0); err == nil {
		t.Fatal("Set after Close succeeded")
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("still listening after Close")
	}
}
