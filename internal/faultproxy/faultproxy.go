// Package faultproxy is a TCP proxy on loopback that fails on command, to
// test how blobvalet behaves when storage or a webhook is down, slow or
// hanging. Its mode can change at any time and applies at once to new
// connections and to the next bytes on open ones, so pooled keep-alive
// connections see the fault too.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what the proxy does with traffic.
type Mode int

// Modes.
const (
	// Pass forwards everything.
	Pass Mode = iota
	// Refuse closes the listener, so connecting fails (connection refused),
	// and resets open connections: the server is down.
	Refuse
	// Reset accepts and resets each connection when it next sends
	// (TCP RST in the middle of a request).
	Reset
	// Delay holds each chunk of a request for the set delay before
	// forwarding it: a slow server.
	Delay
	// BlackHole accepts and reads, and never forwards or answers: a hung
	// server.
	BlackHole
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Refuse:
		return "refuse"
	case Reset:
		return "reset"
	case Delay:
		return "delay"
	case BlackHole:
		return "black-hole"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Proxy forwards connections from its loopback address to a target.
type Proxy struct {
	target string
	addr   string

	mu     sync.Mutex
	mode   Mode
	delay  time.Duration
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	// changed is closed and replaced on every mode change, to wake
	// connections that wait on a delay or a black hole.
	changed chan struct{}

	accepted atomic.Int64
	wg       sync.WaitGroup
}

// Start starts a proxy on a free loopback port in front of target
// (host:port), in mode Pass.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.serve(ln)
	return p, nil
}

// Addr returns the proxy's address, 127.0.0.1:PORT. It stays the same
// across Refuse.
func (p *Proxy) Addr() string { return p.addr }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Set switches to mode m; d is the delay for Delay and ignored otherwise.
// Leaving Refuse listens again on the same address.
func (p *Proxy) Set(m Mode, d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	p.mode, p.delay = m, d
	close(p.changed)
	p.changed = make(chan struct{})
	switch {
	case m == Refuse && p.ln != nil:
		p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			reset(c)
		}
	case m != Refuse && p.ln == nil:
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("faultproxy: listen again on %s: %w", p.addr, err)
		}
		p.ln = ln
		p.wg.Add(1)
		go p.serve(ln)
	}
	return nil
}

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Open returns how many client connections are open now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		if p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
		for c := range p.conns {
			c.Close()
		}
		close(p.changed)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.handle(c)
	}
}

// state returns the mode, its delay and the channel closed on the next
// change.
func (p *Proxy) state() (Mode, time.Duration, <-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay, p.changed, p.closed
}

func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, client)
		p.mu.Unlock()
		client.Close()
	}()
	var upstream net.Conn
	defer func() {
		if upstream != nil {
			upstream.Close()
		}
	}()
	done := make(chan struct{})
	defer close(done)
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if !p.forward(client, &upstream, buf[:n], done) {
				return
			}
		}
		if err != nil {
			if upstream != nil {
				if tc, ok := upstream.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			return
		}
	}
}

// forward applies the mode to one chunk of a request, and sends it on. It
// returns false when the connection is done with.
func (p *Proxy) forward(client net.Conn, upstream *net.Conn, chunk []byte, done chan struct{}) bool {
	for {
		mode, delay, changed, closed := p.state()
		if closed {
			return false
		}
		switch mode {
		case Refuse, Reset:
			reset(client)
			return false
		case BlackHole:
			// Hold the chunk until the mode changes.
			<-changed
			continue
		case Delay:
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-changed:
				t.Stop()
				continue
			}
		}
		if *upstream == nil {
			u, err := net.DialTimeout("tcp", p.target, 10*time.Second)
			if err != nil {
				reset(client)
				return false
			}
			*upstream = u
			p.wg.Add(1)
			go p.answer(client, u, done)
		}
		_, err := (*upstream).Write(chunk)
		return err == nil
	}
}

// answer copies the target's answer to the client, holding it back in
// mode BlackHole and cutting it in Refuse and Reset.
func (p *Proxy) answer(client, upstream net.Conn, done chan struct{}) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := upstream.Read(buf)
		if n > 0 {
			for {
				mode, _, changed, closed := p.state()
				if closed || mode == Refuse || mode == Reset {
					reset(client)
					return
				}
				if mode == BlackHole {
					select {
					case <-changed:
						continue
					case <-done:
						return
					}
				}
				break
			}
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := client.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			} else {
				client.Close()
			}
			return
		}
	}
}

// reset closes c with a TCP RST rather than an orderly FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
