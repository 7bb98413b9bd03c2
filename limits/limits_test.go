package limits

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)} }

func defaults(t *testing.T) Options {
	t.Helper()
	return Defaults()
}

func TestBurstThenRetryAfter(t *testing.T) {
	c := newClock()
	l := New(Options{Routes: map[Route]Bucket{SAS: {Rate: 2, Burst: 3}}}, c.now, nil)
	for i := range 3 {
		if ok, _ := l.Allow("alice", SAS); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("alice", SAS)
	if ok {
		t.Fatal("request past the burst allowed")
	}
	if wait != 500*time.Millisecond {
		t.Errorf("retry after %v, want 500ms at 2/s", wait)
	}
	if got := RetryAfter(wait); got != "1" {
		t.Errorf("Retry-After %q, want 1 (seconds, rounded up)", got)
	}
	if ok, _ := l.Allow("bob", SAS); !ok {
		t.Error("bob refused for alice's requests")
	}
	if ok, _ := l.Allow("alice", Success); !ok {
		t.Error("a route without a limit refused")
	}
	c.advance(wait)
	if ok, _ := l.Allow("alice", SAS); !ok {
		t.Error("refused after waiting Retry-After")
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"}, {90 * time.Second, "90"}} {
		if got := RetryAfter(tt.d); got != tt.want {
			t.Errorf("RetryAfter(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestDefaultsCarryChunkedUploads plays the signature requests of 1 GiB
// uploads in 4 MiB chunks, 4 in flight, with every tenth chunk retried and
// then the upload-success request, against the configured defaults: one
// upload at any speed, and uploads one after another at 1.6 Gbit/s.
func TestDefaultsCarryChunkedUploads(t *testing.T) {
	const chunks = 256
	requests := chunks + chunks/10 + 1 // chunks, retries, block list
	for _, tt := range []struct {
		name    string
		uploads int
		perFour time.Duration // time for 4 chunks to go up
	}{
		{"one upload, all at once", 1, 0},
		{"one upload at 1.6 Gbit/s", 1, 80 * time.Millisecond},
		{"five uploads at 1.6 Gbit/s", 5, 80 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			l := New(defaults(t), c.now, nil)
			for u := range tt.uploads {
				for i := 0; i < requests; i += 4 {
					for j := 0; j < 4 && i+j < requests; j++ {
						if ok, wait := l.Allow("alice", SAS); !ok {
							t.Fatalf("upload %d: signature request %d refused (retry after %v)", u+1, i+j+1, wait)
						}
					}
					c.advance(tt.perFour)
				}
				if ok, _ := l.Allow("alice", Success); !ok {
					t.Fatalf("upload %d: upload-success refused", u+1)
				}
			}
		})
	}
}

// TestDefaultsRefuseAFlood checks that the defaults do limit: of a flood
// at one instant, the burst is allowed and the rest refused.
func TestDefaultsRefuseAFlood(t *testing.T) {
	c := newClock()
	l := New(defaults(t), c.now, nil)
	refused := 0
	for range 1000 {
		if ok, _ := l.Allow("alice", SAS); !ok {
			refused++
		}
	}
	if want := 1000 - DefaultSAS.Burst; refused != want {
		t.Errorf("%d of 1000 refused, want %d", refused, want)
	}
}

func TestFailuresSpendTheAddressBucket(t *testing.T) {
	c := newClock()
	l := New(Options{Unauthenticated: Bucket{Rate: 1, Burst: 3}}, c.now, nil)
	bad := netip.MustParseAddr("192.0.2.7")
	other := netip.MustParseAddr("192.0.2.8")
	for i := range 3 {
		if ok, _ := l.Attempt(bad); !ok {
			t.Fatalf("attempt %d refused before the bucket was spent", i+1)
		}
		l.Failed(bad)
	}
	ok, wait := l.Attempt(bad)
	if ok || wait != time.Second {
		t.Fatalf("after 3 failures: ok %v, retry after %v; want refused for 1s", ok, wait)
	}
	if ok, _ := l.Attempt(other); !ok {
		t.Error("another address refused")
	}
	// Attempts take nothing: only failures do.
	for range 10 {
		l.Attempt(other)
	}
	if ok, _ := l.Attempt(other); !ok {
		t.Error("attempts alone spent the bucket")
	}
	c.advance(time.Second)
	if ok, _ := l.Attempt(bad); !ok {
		t.Error("still refused once the bucket refilled")
	}
}

func TestIPv6CountsBy64(t *testing.T) {
	c := newClock()
	l := New(Options{Unauthenticated: Bucket{Rate: 1, Burst: 2}}, c.now, nil)
	for i := range 2 {
		l.Failed(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)))
	}
	if ok, _ := l.Attempt(netip.MustParseAddr("2001:db8:1:2:ffff::1")); ok {
		t.Error("a fresh address in the same /64 allowed after the /64 spent its bucket")
	}
	if ok, _ := l.Attempt(netip.MustParseAddr("2001:db8:1:3::1")); !ok {
		t.Error("another /64 refused")
	}
}

func TestFailuresLoggedBySample(t *testing.T) {
	c := newClock()
	core, logs := observer.New(zap.InfoLevel)
	l := New(Options{Unauthenticated: Bucket{Rate: 1, Burst: 1}, LogFirst: 3}, c.now, zap.New(core))
	bad := netip.MustParseAddr("198.51.100.9")
	logged := 0
	for range 100 {
		if l.Failed(bad) {
			logged++
		}
		c.advance(100 * time.Millisecond) // 100 failures in 10 s
	}
	if logged != 3 {
		t.Errorf("%d of 100 failures to be logged in a minute, want 3", logged)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("summary logged before the window ended: %v", logs.All())
	}
	c.advance(LogWindow)
	if !l.Failed(bad) {
		t.Error("first failure of the next window not to be logged")
	}
	sums := logs.FilterMessage("failed authentications not logged one by one").All()
	if len(sums) != 1 {
		t.Fatalf("summaries: %v", logs.All())
	}
	if f := sums[0].ContextMap(); f["client"] != "198.51.100.9/32" || f["count"] != int64(97) {
		t.Errorf("summary %v, want client 198.51.100.9/32 and count 97", f)
	}
}

func TestSummaryOnSweepWhenTheFloodStops(t *testing.T) {
	c := newClock()
	core, logs := observer.New(zap.InfoLevel)
	l := New(Options{Unauthenticated: Bucket{Rate: 1, Burst: 1}, LogFirst: 1}, c.now, zap.New(core))
	for range 10 {
		l.Failed(netip.MustParseAddr("198.51.100.9"))
	}
	c.advance(2 * LogWindow)
	l.Attempt(netip.MustParseAddr("203.0.113.1")) // any request sweeps
	sums := logs.FilterMessage("failed authentications not logged one by one").All()
	if len(sums) != 1 || sums[0].ContextMap()["count"] != int64(9) {
		t.Fatalf("summaries: %v", logs.All())
	}
	if _, addrs := l.Len(); addrs != 0 {
		t.Errorf("%d address buckets kept after they refilled", addrs)
	}
}

func TestMemoryBound(t *testing.T) {
	c := newClock()
	core, logs := observer.New(zap.InfoLevel)
	l := New(Options{
		Routes:          map[Route]Bucket{SAS: {Rate: 1, Burst: 1}},
		Unauthenticated: Bucket{Rate: 1, Burst: 1},
		MaxKeys:         100,
		LogFirst:        1,
	}, c.now, zap.New(core))
	for i := range 10000 {
		l.Allow(fmt.Sprintf("user%d", i), SAS)
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Failed(a)
		l.Failed(a)
	}
	if users, addrs := l.Len(); users != 100 || addrs != 100 {
		t.Errorf("kept %d user and %d address buckets, want at most 100 each", users, addrs)
	}
	// An address forgotten with failures unlogged has them summed up.
	if n := len(logs.FilterMessage("failed authentications not logged one by one").All()); n != 10000-100 {
		t.Errorf("%d summaries of forgotten addresses, want %d", n, 10000-100)
	}
	// The most recent are kept: the last user is still limited.
	if ok, _ := l.Allow("user9999", SAS); ok {
		t.Error("the most recent user's bucket was forgotten")
	}
}

func TestSweepForgetsRefilledBuckets(t *testing.T) {
	c := newClock()
	l := New(Options{Routes: map[Route]Bucket{SAS: {Rate: 1, Burst: 10}}}, c.now, nil)
	l.Allow("idle", SAS)
	for range 10 {
		l.Allow("busy", SAS)
	}
	c.advance(sweepEvery)
	l.Allow("busy", SAS) // sweeps, then takes from a bucket refilled to 10
	if users, _ := l.Len(); users != 1 {
		t.Errorf("%d user buckets after the sweep, want 1", users)
	}
}

func TestClientAddr(t *testing.T) {
	l := New(Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, time.Now, nil)
	for _, tt := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "192.0.2.1:5000", nil, "192.0.2.1"},
		{"direct, forwarded-for ignored", "192.0.2.1:5000", []string{"203.0.113.5"}, "192.0.2.1"},
		{"through a proxy", "10.0.0.2:5000", []string{"203.0.113.5"}, "203.0.113.5"},
		{"client-sent values before the proxy's", "10.0.0.2:5000", []string{"1.1.1.1, 203.0.113.5"}, "203.0.113.5"},
		{"two proxies", "10.0.0.2:5000", []string{"203.0.113.5", "10.0.0.3"}, "203.0.113.5"},
		{"proxy without header", "10.0.0.2:5000", nil, "10.0.0.2"},
		{"garbage after the client", "10.0.0.2:5000", []string{"203.0.113.5, nonsense"}, "10.0.0.2"},
		{"IPv6 proxy", "[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped IPv4", "[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
	} {
		if got := l.ClientAddr(tt.remote, tt.xff).String(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestNilLimiterAllows(t *testing.T) {
	var l *Limiter
	if ok, _ := l.Allow("alice", SAS); !ok {
		t.Error("Allow")
	}
	if ok, _ := l.Attempt(netip.Addr{}); !ok {
		t.Error("Attempt")
	}
	if !l.Failed(netip.Addr{}) {
		t.Error("Failed not logged")
	}
}
