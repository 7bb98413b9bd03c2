package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/blobvalet/blobvalet/azurite"
	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/internal/app"
	"github.com/blobvalet/blobvalet/internal/faultproxy"
)

// reloadConfig is a configuration whose SAS lifetime, alice's token
// variable and active key can be changed.
func reloadConfig(az *azurite.Server, lifetime time.Duration, aliceEnv, activeKey string) Config {
	return Config{
		Storage: Storage{Account: az.Account(), Endpoint: az.Endpoint(), Keys: []Key{
			{Name: "key1", Env: "TEST_STORAGE_KEY", Active: activeKey == "key1"},
			{Name: "key2", Env: "TEST_STORAGE_KEY", Active: activeKey == "key2"},
		}},
		Auth:    Auth{Tokens: []Token{{User: "alice", TokenEnv: aliceEnv}}},
		SAS:     &SAS{Lifetime: Duration(lifetime)},
		Rules:   []Rule{{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: "users/{user}/**", Methods: []string{"PUT", "DELETE"}}},
		Staging: Staging{Container: "incoming"},
	}
}

func newReloadFixture(t *testing.T) *stack {
	t.Helper()
	az := azuritetest.Start(t, "uploads", "incoming")
	return startStack(t, az, reloadConfig(az, 10*time.Minute, "TEST_ALICE_TOKEN", "key1"), app.Options{})
}

// sas asks for a SAS and returns the status and the SAS query.
func (f *stack) sas(token string) (int, url.Values, error) {
	bloburi := f.az.Endpoint() + "/uploads/users/alice/x.txt"
	req, _ := http.NewRequest("GET", f.url+"/sas?bloburi="+url.QueryEscape(bloburi)+"&_method=PUT", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil, nil
	}
	u, err := url.Parse(string(body))
	if err != nil {
		return 0, nil, err
	}
	return 200, u.Query(), nil
}

// TestReloadUnderLoad reloads several times while requests stream in: none
// fails, and the new configuration takes effect.
func TestReloadUnderLoad(t *testing.T) {
	f := newReloadFixture(t)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		lifetime = map[string]int{}
		stop     = make(chan struct{})
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, q, err := f.sas(aliceToken)
				mu.Lock()
				if err != nil || code != 200 {
					failures = append(failures, fmt.Sprintf("status %d, %v", code, err))
				} else {
					se, _ := time.Parse(time.RFC3339, q.Get("se"))
					if time.Until(se) > 6*time.Minute {
						lifetime["10m"]++
					} else {
						lifetime["5m"]++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 6 {
		l := []time.Duration{5 * time.Minute, 10 * time.Minute}[i%2]
		f.write(t, reloadConfig(f.az, l, "TEST_ALICE_TOKEN", "key1"))
		if err := f.reload(context.Background()); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during reloads, e.g. %s", len(failures), failures[0])
	}
	if lifetime["5m"] == 0 || lifetime["10m"] == 0 {
		t.Errorf("reloads did not take effect: %v", lifetime)
	}
}

func TestReloadBrokenFileChangesNothing(t *testing.T) {
	f := newReloadFixture(t)
	missing := reloadConfig(f.az, 10*time.Minute, "TEST_ALICE_TOKEN", "key1")
	missing.Rules[0].Container = "missing"
	for _, broken := range [][]byte{
		[]byte("storage: [not, a, mapping\n"),
		marshal(t, reloadConfig(f.az, 10*time.Minute, "TEST_UNSET_TOKEN", "key1")),
		marshal(t, missing),
	} {
		writeFileAtomic(t, f.path, broken)
		if err := f.reload(context.Background()); err == nil {
			t.Fatalf("reload of a broken file succeeded:\n%s", broken)
		}
		if code, _, err := f.sas(aliceToken); code != 200 {
			t.Fatalf("after a failed reload: %d %v", code, err)
		}
	}
}

// TestReloadRotatesTokensAndKeys swaps alice's token and the active key
// without a restart.
func TestReloadRotatesTokensAndKeys(t *testing.T) {
	f := newReloadFixture(t)
	f.write(t, reloadConfig(f.az, 10*time.Minute, "TEST_ALICE_TOKEN2", "key2"))
	if err := f.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := f.sas(aliceToken); code != 401 {
		t.Errorf("old token after rotation = %d, want 401", code)
	}
	code, q, err := f.sas(alice2Token)
	if code != 200 {
		t.Fatalf("new token = %d %v", code, err)
	}
	uri := f.az.Endpoint() + "/incoming/" + staged("alice", "uploads", "users/alice/x.txt") + "?" + q.Encode()
	if code := browser(t, "PUT", uri, putBlobHeaders("text/plain", "x.txt"), []byte("rotated")); code != 201 {
		t.Fatalf("upload with a SAS signed by the new key = %d", code)
	}
}

// TestSIGHUPReloads sends the process a real SIGHUP while "blobvalet serve"
// runs.
func TestSIGHUPReloads(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "incoming")
	serving := func(c Config) Config {
		c.Listen, c.AdminListen, c.Shutdown = "127.0.0.1:0", "127.0.0.1:0", &Shutdown{Drain: Duration(100 * time.Millisecond)}
		return c
	}
	path := writeConfig(t, serving(reloadConfig(az, 10*time.Minute, "TEST_ALICE_TOKEN", "key1")))
	p := startProcess(t, []string{"TEST_STORAGE_KEY=" + az.Key(), "TEST_ALICE_TOKEN=" + aliceToken}, "serve", "--config", path)
	p.waitLog(t, regexp.MustCompile(`"listening"`), 20*time.Second)
	serving(reloadConfig(az, 5*time.Minute, "TEST_ALICE_TOKEN", "key2")).writeTo(t, path)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`"configuration reloaded"`), 20*time.Second)
	if !strings.Contains(p.stderr.String(), `"key":"key2"`) {
		t.Errorf("reload did not switch to key2:\n%s", p.stderr.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// TestReloadDuringStorageOutage: with storage refusing connections, a
// reload that removes alice's token applies at once (alice gets 401), bob
// still gets a SAS (a shared key needs no storage to sign), and readiness
// stays 200 while it says, with the real cause, that verifying is degraded
// and the storage check pending. Once storage is back, the background check
// passes. Probes never reach storage: readiness is kept up to date in the
// background.
func TestReloadDuringStorageOutage(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "incoming")
	proxy, err := faultproxy.Start(fmt.Sprintf("127.0.0.1:%d", az.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	endpoint := "http://" + proxy.Addr() + "/" + az.Account()
	alice, bob := Token{User: "alice", TokenEnv: "TEST_ALICE_TOKEN"}, Token{User: "bob", TokenEnv: "TEST_BOB_TOKEN"}
	configWith := func(tokens ...Token) Config {
		return Config{
			Storage: Storage{Account: az.Account(), Endpoint: endpoint, KeyEnv: "TEST_STORAGE_KEY"},
			Auth:    Auth{Tokens: tokens},
			Rules:   []Rule{{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: "users/{user}/**", Methods: []string{"PUT", "DELETE"}}},
			Staging: Staging{Container: "incoming"},
		}
	}
	core, logs := observer.New(zap.InfoLevel)
	ctx := context.Background()
	f := startStack(t, az, configWith(alice, bob), app.Options{Log: zap.New(core)})
	admin := httptest.NewServer(f.app.Admin())
	t.Cleanup(admin.Close)
	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get(admin.URL + "/readyz?verbose")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	sasFor := func(token, user string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", f.url+"/sas?_method=PUT&bloburi="+url.QueryEscape(endpoint+"/uploads/users/"+user+"/x.txt"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	refresh := func() { f.app.Refresh(ctx) }

	if err := proxy.Set(faultproxy.Refuse, 0); err != nil {
		t.Fatal(err)
	}
	refresh()
	code, body := readyz()
	if code != 200 || !strings.Contains(body, "signing: ok") || !strings.Contains(body, "verifying: degraded: storage endpoint "+endpoint+" cannot be reached") || !strings.Contains(body, "connection refused") {
		t.Fatalf("/readyz with storage down = %d %q; want 200, signing ok, verifying degraded with the cause", code, body)
	}
	before := proxy.Accepted()
	for range 20 {
		readyz()
	}
	if proxy.Accepted() != before {
		t.Errorf("/readyz reached storage")
	}

	f.write(t, configWith(bob))
	if err := f.reload(ctx); err != nil {
		t.Fatalf("reload during the outage refused: %v", err)
	}
	if got := sasFor(aliceToken, "alice"); got != 401 {
		t.Errorf("alice's revoked token after the reload = %d, want 401", got)
	}
	if got := sasFor(bobToken, "bob"); got != 200 {
		t.Errorf("bob's SAS during the outage = %d, want 200", got)
	}
	if code, body := readyz(); code != 200 || !strings.Contains(body, "verifying: degraded: storage check pending: storage endpoint") || !strings.Contains(body, "connection refused") {
		t.Errorf("/readyz after the reload = %d %q; want 200 with the storage check pending", code, body)
	}
	if logs.FilterMessageSnippet("storage check pending").Len() == 0 {
		t.Error("the reload did not log that the storage check is pending")
	}

	// Hung storage: the answer names the wait, not "context deadline exceeded".
	if err := proxy.Set(faultproxy.BlackHole, 0); err != nil {
		t.Fatal(err)
	}
	refresh()
	if code, body := readyz(); code != 200 || !strings.Contains(body, "did not answer: no answer within 3s") || strings.Contains(body, "deadline exceeded") {
		t.Errorf("/readyz with storage hung = %d %q", code, body)
	}

	if err := proxy.Set(faultproxy.Pass, 0); err != nil {
		t.Fatal(err)
	}
	refresh()
	if code, body := readyz(); code != 200 || strings.Contains(body, "degraded") {
		t.Errorf("/readyz with storage back = %d %q", code, body)
	}
	if logs.FilterMessage("storage check passed").Len() != 1 {
		t.Error("the pending storage check did not log that it passed")
	}
	if got := sasFor(aliceToken, "alice"); got != 401 {
		t.Errorf("alice's revoked token once storage is back = %d, want 401", got)
	}
}
