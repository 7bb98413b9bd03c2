package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/blobvalet/blobvalet/limits"
	"go.yaml.in/yaml/v3"
)

// Limits caps how often callers may ask. The buckets live in each running
// blobvalet: with several replicas, a caller's allowance is the sum of theirs.
type Limits struct {
	// SAS is each user's allowance of GET /sas. Default 50/s, burst 300:
	// a 1 GiB upload in 4 MiB chunks asks about 260 times, retries
	// included, which the burst covers however fast the network; after it,
	// 50 chunks a second is 200 MiB/s.
	SAS RateLimit `yaml:"sas"`
	// Success is each user's allowance of POST /success, which copies a
	// verified upload in storage. Default 10/s, burst 50.
	Success RateLimit `yaml:"success"`
	// Unauthenticated is each client address's allowance of requests that
	// fail authentication. Once spent, the address is refused with 429
	// before its credentials are checked, until the bucket refills.
	// IPv6 addresses count by /64. Default 5/s, burst 20.
	Unauthenticated RateLimit `yaml:"unauthenticated"`
	// TrustedProxies lists the CIDRs of reverse proxies in front of
	// blobvalet. For a connection from one of them, the client address is
	// the last one in X-Forwarded-For that is not a trusted proxy's;
	// otherwise it is the connection's. Without it, behind a proxy every
	// caller has the proxy's address and shares one unauthenticated bucket.
	TrustedProxies []string `yaml:"trusted_proxies"`

	proxies []netip.Prefix
}

// RateLimit is a token bucket: Rate requests on average, up to Burst at once.
type RateLimit struct {
	// Rate is written as a count per second, minute or hour: 50/s, 300/m.
	Rate Rate `yaml:"rate"`
	// Burst is how many requests may come at once after a quiet spell.
	Burst int `yaml:"burst"`
}

// Default limits, chosen so that ordinary use never meets them.
var (
	DefaultSASLimit             = RateLimit{Rate: Rate(limits.DefaultSAS.Rate), Burst: limits.DefaultSAS.Burst}
	DefaultSuccessLimit         = RateLimit{Rate: Rate(limits.DefaultSuccess.Rate), Burst: limits.DefaultSuccess.Burst}
	DefaultUnauthenticatedLimit = RateLimit{Rate: Rate(limits.DefaultUnauthenticated.Rate), Burst: limits.DefaultUnauthenticated.Burst}
)

// Proxies returns the parsed trusted_proxies.
func (l *Limits) Proxies() []netip.Prefix { return l.proxies }

func (l *Limits) complete(p *problems) {
	l.SAS.complete(p, "limits.sas", DefaultSASLimit)
	l.Success.complete(p, "limits.success", DefaultSuccessLimit)
	l.Unauthenticated.complete(p, "limits.unauthenticated", DefaultUnauthenticatedLimit)
	for i, c := range l.TrustedProxies {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			p.add(fmt.Sprintf("limits.trusted_proxies[%d]", i), "want a CIDR such as 10.0.0.0/8, got %q", c)
			continue
		}
		l.proxies = append(l.proxies, pfx.Masked())
	}
}

func (r *RateLimit) complete(p *problems, field string, def RateLimit) {
	if r.Rate == 0 {
		r.Rate = def.Rate
	}
	switch {
	case r.Burst == 0:
		r.Burst = max(def.Burst, int(math.Ceil(float64(r.Rate))))
	case r.Burst < 0:
		p.add(field+".burst", "want a positive number, got %d", r.Burst)
	}
}

// Rate is a number of requests per second, written in YAML as 50/s, 300/m
// or 1000/h.
type Rate float64

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseRate(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseRate parses a rate such as 50/s, 300/m or 1000/h. A rate of zero
// is refused rather than read as "nothing allowed" or "no limit".
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[strings.TrimSpace(unit)]
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || per == 0 || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a rate such as 50/s, 300/m or 1000/h, got %q", s)
	}
	if f <= 0 {
		return 0, fmt.Errorf("want a rate above zero, got %q (leave the field out for its default)", s)
	}
	return Rate(f / per.Seconds()), nil
}

// String formats the rate per second, e.g. "50/s".
func (r Rate) String() string {
	return strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s"
}
