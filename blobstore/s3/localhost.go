package s3

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// isLocalhost reports whether endpoint's host is localhost or a name under
// it, such as an emulator's virtual-hosted bucket.
func isLocalhost(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	return isLocalhostName(u.Hostname())
}

func isLocalhostName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// withLocalhost returns a client that sends requests for every name under
// localhost to the loopback address, as RFC 6761 §6.3 asks and browsers do,
// while the system resolver knows only "localhost" itself: with
// virtual-hosted addressing at http://localhost:PORT, bucket B is
// B.localhost, which the browser and blobvalet must both reach. c, if not
// nil, is copied with its transport, which must then be an *http.Transport
// (the SDK's default is kept otherwise).
func withLocalhost(c *http.Client) *http.Client {
	var t *http.Transport
	var out http.Client
	if c != nil {
		out = *c
		if tr, ok := c.Transport.(*http.Transport); ok {
			t = tr.Clone()
		} else if c.Transport != nil {
			return c
		}
	}
	if t == nil {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil && isLocalhostName(host) {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		return dial(ctx, network, addr)
	}
	out.Transport = t
	return &out
}
