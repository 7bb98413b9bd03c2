package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("want an absolute URL such as https://ACCOUNT.blob.core.windows.net, got %q", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must have no query, fragment or user info (a SAS or key never goes here)", s)
	}
	if u.Scheme == "http" && !IsLoopback(s) {
		return fmt.Errorf("%q uses http; only a loopback emulator may, use https", s)
	}
	return nil
}

// IsLoopback reports whether an endpoint URL's host is a loopback address or
// localhost.
func IsLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
