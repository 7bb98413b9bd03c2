package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/internal/faultproxy"
)

// faultStack is a stack that reaches Azurite's Blob service through a
// fault proxy.
type faultStack struct {
	*stack
	proxy    *faultproxy.Proxy
	endpoint string // the Blob service as blobvalet sees it: through the proxy
}

// testBudget is the success budget of the fault tests: small, so that they
// are quick.
const testBudget = 3 * time.Second

// newFaultStack starts it with the success budget testBudget and the
// configuration edited by edit.
func newFaultStack(t *testing.T, edit func(*Config)) *faultStack {
	t.Helper()
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	p := startProxy(t, az.Endpoint())
	fs := &faultStack{proxy: p, endpoint: "http://" + p.Addr() + "/" + az.Account()}
	c := testConfig(az)
	c.Storage.Endpoint = fs.endpoint
	c.Success = &Success{Timeout: Duration(testBudget)}
	if edit != nil {
		edit(&c)
	}
	fs.stack = startStack(t, az, c, app.Options{})
	return fs
}

// stage puts an upload in alice's staging blob, as the browser would,
// straight to Azurite.
func (fs *faultStack) stage(t *testing.T, name string) {
	t.Helper()
	b := fs.az.Client().NewContainerClient("incoming").NewBlockBlobClient(staged("alice", "uploads", name))
	if _, err := b.UploadBuffer(context.Background(), pngBytes, &blockblob.UploadBufferOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("image/png")},
	}); err != nil {
		t.Fatal(err)
	}
}

// answer is what the browser got from one /success.
type answer struct {
	status     int
	retryAfter string
	body       map[string]any
	took       time.Duration
	err        error
}

func (a answer) String() string {
	return fmt.Sprintf("%d %v (Retry-After %q) in %v, err %v", a.status, a.body, a.retryAfter, a.took.Round(time.Millisecond), a.err)
}

// retryable reports whether a is a JSON failure Fine Uploader retries.
func (a answer) retryable() bool {
	return a.err == nil && (a.status == 503 || a.status == 504) && a.body["success"] == false && a.body["preventRetry"] == nil && a.body["error"] != nil
}

func (fs *faultStack) success(name string) answer {
	form := url.Values{"blob": {name}, "uuid": {"u"}, "name": {"x.png"}, "container": {fs.endpoint + "/uploads"}}
	req, _ := http.NewRequest("POST", fs.url+"/success", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	start := time.Now()
	resp, err := fs.client.Do(req)
	a := answer{took: time.Since(start), err: err}
	if err != nil {
		return a
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	if err := json.Unmarshal(raw, &a.body); err != nil {
		a.err = fmt.Errorf("answer %q is not JSON", raw)
	}
	a.took = time.Since(start)
	return a
}

// settle waits, at most 30 s, for the goroutines and the proxy's open
// connections to come back to their baselines, and returns what they are.
func (fs *faultStack) settle(t *testing.T, goroutines, conns int) (int, int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		fs.client.CloseIdleConnections()
		g, c := runtime.NumGoroutine(), fs.proxy.Open()
		if g <= goroutines && c <= conns {
			return g, c
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines (baseline %d) and %d proxy connections (baseline %d) after 30 s:\n%s", g, goroutines, c, conns, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSuccessBudgetStorageFaults: with storage down, slow and hanging,
// every /success is answered within its budget with JSON the browser can
// retry, and once storage is back the retry succeeds; the goroutines and
// connections the fault held are released.
func TestSuccessBudgetStorageFaults(t *testing.T) {
	fs := newFaultStack(t, nil)
	fs.stage(t, "users/alice/warm.png")
	if a := fs.success("users/alice/warm.png"); a.status != 200 {
		t.Fatalf("warm-up: %v", a)
	}
	fs.client.CloseIdleConnections()
	baseG, baseC := runtime.NumGoroutine(), fs.proxy.Open()
	t.Logf("baseline: %d goroutines, %d proxy connections", baseG, baseC)
	for i, f := range []struct {
		mode  faultproxy.Mode
		delay time.Duration
	}{
		{faultproxy.Refuse, 0}, {faultproxy.Reset, 0},
		{faultproxy.Delay, 2 * time.Second}, {faultproxy.Delay, 10 * time.Second}, {faultproxy.Delay, 60 * time.Second},
		{faultproxy.BlackHole, 0},
	} {
		name := fmt.Sprintf("users/alice/fault-%d.png", i)
		fs.stage(t, name)
		if err := fs.proxy.Set(f.mode, f.delay); err != nil {
			t.Fatal(err)
		}
		a := fs.success(name)
		if err := fs.proxy.Set(faultproxy.Pass, 0); err != nil {
			t.Fatal(err)
		}
		if !a.retryable() {
			t.Fatalf("%v %v: %v, want retryable JSON, 503 or 504", f.mode, f.delay, a)
		}
		g, c := fs.settle(t, baseG, baseC)
		retry := fs.success(name)
		if retry.status != 200 {
			t.Fatalf("%v %v: retry after recovery: %v", f.mode, f.delay, retry)
		}
		t.Logf("%v %v: %d %q in %v; after: %d goroutines, %d proxy connections; retry %d in %v",
			f.mode, f.delay, a.status, a.body["error"], a.took.Round(time.Millisecond), g, c, retry.status, retry.took.Round(time.Millisecond))
	}
}

// TestSuccessBudgetInFlightCap: 200 concurrent /success against a hung
// storage, with success.max_in_flight 8: those beyond the cap are answered
// at once, 503 with Retry-After; the others within the budget; all JSON
// and retryable; nothing is left held afterwards.
func TestSuccessBudgetInFlightCap(t *testing.T) {
	const n, capacity = 200, 8
	fs := newFaultStack(t, func(c *Config) {
		c.Limits = &Limits{Success: &RateLimit{Rate: "10000/s", Burst: 10000}}
		c.Success.MaxInFlight = capacity
	})
	fs.stage(t, "users/alice/warm.png")
	if a := fs.success("users/alice/warm.png"); a.status != 200 {
		t.Fatalf("warm-up: %v", a)
	}
	fs.client.CloseIdleConnections()
	baseG, baseC := runtime.NumGoroutine(), fs.proxy.Open()
	fs.client.Transport = &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n}
	if err := fs.proxy.Set(faultproxy.BlackHole, 0); err != nil {
		t.Fatal(err)
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = fs.success(fmt.Sprintf("users/alice/hung-%03d.png", i))
		}()
	}
	wg.Wait()
	all := time.Since(start)
	peakG := runtime.NumGoroutine()
	if err := fs.proxy.Set(faultproxy.Pass, 0); err != nil {
		t.Fatal(err)
	}
	busy, timedOut := 0, 0
	var slowestBusy, slowest time.Duration
	for _, a := range answers {
		if !a.retryable() {
			t.Fatalf("answer %v, want retryable JSON", a)
		}
		slowest = max(slowest, a.took)
		if a.body["error"] == "the service is busy; retrying in a moment will check the upload" {
			busy++
			slowestBusy = max(slowestBusy, a.took)
			if a.status != 503 || a.retryAfter == "" {
				t.Fatalf("busy answer %v, want 503 with Retry-After", a)
			}
		} else {
			timedOut++
		}
	}
	if timedOut > capacity || busy < n-capacity {
		t.Fatalf("%d busy, %d checked: the cap of %d did not hold", busy, timedOut, capacity)
	}
	g, c := fs.settle(t, baseG, baseC)
	t.Logf("%d requests in %v: %d busy (slowest %v), %d ran out of the %v budget (slowest %v); goroutines %d before, %d after the answers, %d settled; proxy connections %d before, %d after",
		n, all.Round(time.Millisecond), busy, slowestBusy.Round(time.Millisecond), timedOut, testBudget, slowest.Round(time.Millisecond), baseG, peakG, g, baseC, c)
}
