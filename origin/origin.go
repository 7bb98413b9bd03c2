// Package origin parses the web origins that blobvalet's configuration and
// its cors command name: the origin of a page allowed to call blobvalet or
// the storage account from another origin.
package origin

import (
	"fmt"
	"net/url"
	"strings"
)

// Any stands for every origin.
const Any = "*"

// Parse checks an origin and returns it as a browser sends it in the Origin
// header: scheme://host[:port], lowercase, without the scheme's default
// port. It accepts Any as it is; whether any origin may be allowed is the
// caller's decision. A wildcard inside an origin is refused: neither
// blobvalet nor Azure would match it against anything.
func Parse(s string) (string, error) {
	if s == Any {
		return Any, nil
	}
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("origin %q: wildcards inside an origin are not supported; name each origin", s)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawPath != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil || u.Opaque != "" ||
		strings.ContainsAny(s, "?#, \t\r\n") {
		return "", fmt.Errorf("origin %q: want scheme://host[:port] such as https://app.example.com, with no path or trailing slash", s)
	}
	for i := 0; i < len(u.Host); i++ {
		if u.Host[i] >= 0x80 {
			return "", fmt.Errorf("origin %q: write a non-ASCII host name in its xn-- form, as browsers send it", s)
		}
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("origin %q: no host", s)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if p := u.Port(); (scheme == "https" && p == "443") || (scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	if strings.HasSuffix(host, ":") {
		return "", fmt.Errorf("origin %q: empty port", s)
	}
	return scheme + "://" + host, nil
}
