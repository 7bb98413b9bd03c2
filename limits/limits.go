// Package limits keeps callers to a request rate with token buckets: one
// per user and route for authenticated requests, and one per client address
// for requests that fail authentication. An address whose bucket is spent
// is refused before its credentials are checked, so a flood of bad tokens
// costs a map lookup each, and its failures are logged by sample, not one
// line each.
//
// The buckets live in memory, in one process, and their number is bounded:
// the least recently used are forgotten first, and a bucket that has
// refilled is forgotten at the next sweep, which changes nothing since a
// new bucket starts full.
package limits

import (
	"container/list"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Route names what an authenticated request asks for; each user has a
// bucket per route.
type Route string

// The routes with limits.
const (
	SAS     Route = "sas"
	Success Route = "success"
	// Upload is Fine Uploader's traditional endpoint: each chunk is one
	// request, as each chunk is one signature on /sas.
	Upload Route = "upload"
)

// Bucket is a token bucket: Rate requests a second on average, up to Burst
// at once.
type Bucket struct {
	Rate  rate.Limit
	Burst int
}

// Defaults for Options' bounds.
const (
	// DefaultMaxKeys bounds the buckets kept for users and for addresses,
	// each: about 200 bytes a bucket.
	DefaultMaxKeys = 20000
	// DefaultLogFirst is how many failed authentications of one address
	// are logged in a LogWindow; the rest are counted and summed up in one
	// line.
	DefaultLogFirst = 5
	// LogWindow is the period over which failures are sampled.
	LogWindow = time.Minute
	// sweepEvery is how often refilled buckets are forgotten.
	sweepEvery = time.Minute
)

// Options set the limits.
type Options struct {
	// Routes holds each route's bucket, per user. A route not in it has
	// no limit.
	Routes map[Route]Bucket
	// Unauthenticated is the bucket per client address for requests that
	// fail authentication.
	Unauthenticated Bucket
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed.
	TrustedProxies []netip.Prefix
	// MaxKeys bounds the users' buckets and the addresses' buckets, each;
	// 0 means DefaultMaxKeys.
	MaxKeys int
	// LogFirst is how many failures of one address are logged per
	// LogWindow; 0 means DefaultLogFirst.
	LogFirst int
}

// The default buckets, chosen so that ordinary use never meets them: 50
// signature requests a second per user (a chunked upload asks once per 4 MiB
// block, so that is 200 MiB/s) with a burst of 300, 10 upload-success
// requests a second with a burst of 50, and 5 failed authentications a
// second per address with a burst of 20.
var (
	DefaultSAS             = Bucket{Rate: 50, Burst: 300}
	DefaultSuccess         = Bucket{Rate: 10, Burst: 50}
	DefaultUnauthenticated = Bucket{Rate: 5, Burst: 20}
)

// Defaults returns the default options.
func Defaults() Options {
	return Options{
		Routes:          map[Route]Bucket{SAS: DefaultSAS, Success: DefaultSuccess},
		Unauthenticated: DefaultUnauthenticated,
	}
}

// userKey names one user's bucket for one route.
type userKey struct {
	route Route
	user  string
}

// addrState is one client address's bucket and the sampling of its
// failures' log lines.
type addrState struct {
	window   time.Time // start of the current log window
	logged   int       // failures logged in the window
	unlogged int       // failures counted, not yet logged
}

// Limiter decides whether a request is within its limits. A nil *Limiter
// allows everything and logs every failure. Its methods are safe for
// concurrent use.
type Limiter struct {
	opts Options
	now  func() time.Time
	log  *zap.Logger

	mu        sync.Mutex
	users     *lru[userKey, struct{}]
	addrs     *lru[netip.Prefix, addrState]
	lastSweep time.Time
}

// New returns a Limiter. now is the clock; log receives the summaries of
// unlogged failures.
func New(o Options, now func() time.Time, log *zap.Logger) *Limiter {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.LogFirst <= 0 {
		o.LogFirst = DefaultLogFirst
	}
	if log == nil {
		log = zap.NewNop()
	}
	l := &Limiter{opts: o, now: now, log: log, lastSweep: now()}
	l.users = newLRU[userKey, struct{}](o.MaxKeys, nil)
	l.addrs = newLRU(o.MaxKeys, func(k netip.Prefix, e *entry[netip.Prefix, addrState]) {
		l.summarize(k, &e.val)
	})
	return l
}

// Allow takes one request from user's bucket for route. When the bucket is
// empty it returns false and how long until it holds a request again.
func (l *Limiter) Allow(user string, route Route) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	b, limited := l.opts.Routes[route]
	if !limited {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybeSweep(now)
	e := l.users.get(userKey{route, user}, func() *rate.Limiter { return rate.NewLimiter(b.Rate, b.Burst) })
	if e.lim.AllowN(now, 1) {
		return true, 0
	}
	return false, wait(e.lim, now)
}

// Attempt reports whether a request from addr may try to authenticate:
// false, with how long to wait, when the address's failures have spent its
// bucket. It takes nothing from the bucket: only failures do.
func (l *Limiter) Attempt(addr netip.Addr) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybeSweep(now)
	e := l.addrs.peek(addrKey(addr))
	if e == nil || e.lim.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, wait(e.lim, now)
}

// Failed records a request from addr refused for its credentials, or by
// Attempt, and reports whether to log it. The first LogFirst failures of an
// address in a LogWindow are to be logged; the Limiter counts the rest and
// logs one line for them when the window is over.
func (l *Limiter) Failed(addr netip.Addr) (logIt bool) {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybeSweep(now)
	k := addrKey(addr)
	b := l.opts.Unauthenticated
	e := l.addrs.get(k, func() *rate.Limiter { return rate.NewLimiter(b.Rate, b.Burst) })
	e.lim.AllowN(now, 1)
	s := &e.val
	if now.Sub(s.window) >= LogWindow {
		l.summarize(k, s)
		s.window, s.logged = now, 0
	}
	if s.logged < l.opts.LogFirst {
		s.logged++
		return true
	}
	s.unlogged++
	return false
}

// ClientAddr returns the address of a request's client: the connection's
// (remoteAddr, host:port), or, when that is a trusted proxy, the last
// address in the X-Forwarded-For values that is not a trusted proxy's.
// An address that cannot be parsed gives the zero Addr, one bucket for all
// such requests.
func (l *Limiter) ClientAddr(remoteAddr string, forwardedFor []string) netip.Addr {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	addr = addr.Unmap()
	if l == nil || !l.trusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(forwardedFor, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr
		}
		if a = a.Unmap(); !l.trusted(a) {
			return a
		}
	}
	return addr
}

func (l *Limiter) trusted(a netip.Addr) bool {
	for _, p := range l.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Len returns how many buckets are kept for users and for addresses.
func (l *Limiter) Len() (users, addrs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.users.len(), l.addrs.len()
}

// maybeSweep forgets the buckets that have refilled, at most every
// sweepEvery; the addresses' unlogged failures are summed up first.
func (l *Limiter) maybeSweep(now time.Time) {
	if now.Sub(l.lastSweep) < sweepEvery {
		return
	}
	l.lastSweep = now
	l.users.removeIf(func(_ userKey, e *entry[userKey, struct{}]) bool {
		return e.lim.TokensAt(now) >= float64(e.lim.Burst())
	})
	l.addrs.removeIf(func(k netip.Prefix, e *entry[netip.Prefix, addrState]) bool {
		if now.Sub(e.val.window) < LogWindow {
			return false
		}
		l.summarize(k, &e.val)
		e.val.logged = 0
		return e.lim.TokensAt(now) >= float64(e.lim.Burst())
	})
}

// summarize logs the failures of an address that were counted and not
// logged.
func (l *Limiter) summarize(k netip.Prefix, s *addrState) {
	if s.unlogged == 0 {
		return
	}
	l.log.Warn("failed authentications not logged one by one",
		zap.String("client", k.String()),
		zap.Int("count", s.unlogged),
		zap.Time("since", s.window.UTC()))
	s.unlogged = 0
}

// addrKey is the bucket's key for an address: IPv6 addresses count by
// /64, the block one subscriber usually has.
func addrKey(a netip.Addr) netip.Prefix {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	if !a.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, a.BitLen())
}

// wait is how long until lim holds one request.
func wait(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 || lim.Limit() <= 0 {
		return 0
	}
	return time.Duration(missing / float64(lim.Limit()) * float64(time.Second))
}

// RetryAfter formats a wait as a Retry-After header value: whole seconds,
// rounded up, at least 1.
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// entry is one bucket in an lru.
type entry[K comparable, V any] struct {
	key K
	lim *rate.Limiter
	val V
}

// lru is a map of buckets bounded to max entries: adding one more forgets
// the least recently used.
type lru[K comparable, V any] struct {
	max     int
	items   map[K]*list.Element
	order   *list.List // front: most recently used
	onEvict func(K, *entry[K, V])
}

func newLRU[K comparable, V any](max int, onEvict func(K, *entry[K, V])) *lru[K, V] {
	return &lru[K, V]{max: max, items: map[K]*list.Element{}, order: list.New(), onEvict: onEvict}
}

func (c *lru[K, V]) len() int { return len(c.items) }

// peek returns k's entry, or nil, without marking it used.
func (c *lru[K, V]) peek(k K) *entry[K, V] {
	if el, ok := c.items[k]; ok {
		return el.Value.(*entry[K, V])
	}
	return nil
}

// get returns k's entry, made with newLimiter if there is none, and marks
// it used.
func (c *lru[K, V]) get(k K, newLimiter func() *rate.Limiter) *entry[K, V] {
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*entry[K, V])
	}
	if len(c.items) >= c.max {
		oldest := c.order.Back()
		e := oldest.Value.(*entry[K, V])
		if c.onEvict != nil {
			c.onEvict(e.key, e)
		}
		c.order.Remove(oldest)
		delete(c.items, e.key)
	}
	e := &entry[K, V]{key: k, lim: newLimiter()}
	c.items[k] = c.order.PushFront(e)
	return e
}

// removeIf forgets the entries for which drop is true.
func (c *lru[K, V]) removeIf(drop func(K, *entry[K, V]) bool) {
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*entry[K, V]); drop(e.key, e) {
			c.order.Remove(el)
			delete(c.items, e.key)
		}
		el = next
	}
}
