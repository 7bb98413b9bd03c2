package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
)

// process is blobvalet running as a child process.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
}

// startProcess runs blobvalet with args as a process and stops it, if
// still running, when the test ends.
func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(blobvaletBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitLog waits until the process's log matches re, and returns the match.
func (p *process) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		select {
		case <-p.exited:
			if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
				return m
			}
			t.Fatalf("blobvalet exited (%v) before logging %s:\n%s", p.cmd.ProcessState, re, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("blobvalet did not log %s within %v:\n%s", re, within, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSIGTERMDuringLoad runs "blobvalet serve" as a process, under load
// from several clients, and sends it SIGTERM: readiness turns 503 while
// /sas is still served through the drain, a request in flight when the
// listeners close gets its complete answer, no request that was accepted
// is lost, and the process exits 0.
func TestSIGTERMDuringLoad(t *testing.T) {
	az := azuritetest.Start(t, "uploads", "shared", "incoming")
	c := testConfig(az)
	c.Listen, c.AdminListen, c.Shutdown = "127.0.0.1:0", "127.0.0.1:0", &Shutdown{Drain: Duration(5 * time.Second)}
	path := writeConfig(t, c)
	p := startProcess(t, []string{"TEST_STORAGE_KEY=" + az.Key(), "TEST_ALICE_TOKEN=" + aliceToken, "TEST_BOB_TOKEN=" + bobToken}, "serve", "--config", path)
	m := p.waitLog(t, regexp.MustCompile(`"listening","addr":"([^"]+)","admin":"([^"]+)"`), 30*time.Second)
	base, admin := "http://"+m[1], "http://"+m[2]
	sasURL := base + "/sas?_method=PUT&bloburi=" + url.QueryEscape(az.Endpoint()+"/uploads/users/alice/x.txt")

	// One connection per request, so that no request waits on a pooled
	// connection that the stop closes.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ask := func() (status int, body string, err error) {
		req, _ := http.NewRequest("GET", sasURL, nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	// Load from several clients through the signal and the drain: every
	// request must get a complete answer, a SAS or the rate limit's 429.
	var (
		wg              sync.WaitGroup
		stopLoad        atomic.Bool
		signed, limited atomic.Int64
		lostMu          sync.Mutex
		lost            []string
	)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopLoad.Load() {
				code, body, err := ask()
				switch {
				case err == nil && code == 200 && strings.Contains(body, "sig="):
					signed.Add(1)
				case err == nil && code == 429:
					limited.Add(1)
				default:
					lostMu.Lock()
					lost = append(lost, fmt.Sprintf("%d %q %v", code, body, err))
					lostMu.Unlock()
				}
			}
		}()
	}

	// A request in flight across the stop: its body arrives only once
	// blobvalet has stopped accepting.
	pr, pw := io.Pipe()
	slow := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("POST", base+"/success", pr)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.ContentLength = -1
		resp, err := client.Do(req)
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		var ans map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
			slow <- fmt.Sprintf("status %d, answer not JSON: %v", resp.StatusCode, err)
			return
		}
		slow <- fmt.Sprintf("%d %v", resp.StatusCode, ans)
	}()
	if _, err := pw.Write([]byte("blob=users%2Falice%2F")); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	eventually(t, 5*time.Second, "/readyz to answer 503 during the drain", func() bool {
		resp, err := http.Get(admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	// Serving goes on through the drain: the load keeps getting answers.
	atStop := signed.Load() + limited.Load()
	eventually(t, 10*time.Second-time.Since(signalled), "answers during the drain", func() bool { return signed.Load()+limited.Load() >= atStop+60 })
	stopLoad.Store(true)
	wg.Wait()
	if code, body, err := ask(); code != 200 || err != nil {
		t.Errorf("/sas during the drain = %d %q %v, want 200", code, body, err)
	}
	if strings.Contains(p.stderr.String(), "drained: accepting no new connections") {
		t.Fatal("the drain ended before the load did: the test cannot tell lost requests from refused ones")
	}
	p.waitLog(t, regexp.MustCompile(`drained: accepting no new connections`), 10*time.Second)
	if _, err := pw.Write([]byte("x.txt&container=" + url.QueryEscape(az.Endpoint()+"/uploads"))); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	ans := <-slow
	if !regexp.MustCompile(`^[1-5]\d\d map\[`).MatchString(ans) {
		t.Errorf("the request in flight got %s, want a complete JSON answer", ans)
	}
	<-p.exited
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d, want 0:\n%s", code, p.stderr.String())
	}
	if len(lost) > 0 {
		t.Errorf("%d accepted requests lost: %q", len(lost), lost)
	}
	if strings.Contains(p.stderr.String(), "request cut") {
		t.Errorf("a request was cut:\n%s", p.stderr.String())
	}
	t.Logf("%d SAS signed, %d rate-limited, %d after readiness turned 503; in flight across the stop: %s", signed.Load(), limited.Load(), signed.Load()+limited.Load()-atStop, ans)
}

// TestDevLeavesNoAzurite runs "blobvalet dev" as a process and ends it as
// a user might: killed outright (SIGKILL, no chance to clean up) or by
// closing its terminal (SIGHUP). Either way Azurite goes with it: its port
// stops answering.
func TestDevLeavesNoAzurite(t *testing.T) {
	azuritetest.Require(t)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProcess(t, nil, "dev", "--listen", "127.0.0.1:0")
			storage := p.waitLog(t, regexp.MustCompile(`Storage: +http://(127\.0\.0\.1:\d+)/`), 2*time.Minute)[1]
			if c, err := net.Dial("tcp", storage); err != nil {
				t.Fatalf("Azurite does not answer at %s: %v", storage, err)
			} else {
				c.Close()
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			<-p.exited
			if sig == syscall.SIGHUP && p.cmd.ProcessState.ExitCode() != 0 {
				t.Errorf("dev on SIGHUP exited %v, want 0:\n%s", p.cmd.ProcessState, p.stderr.String())
			}
			eventually(t, 10*time.Second, fmt.Sprintf("Azurite at %s to stop answering after dev ended by %v", storage, sig), func() bool {
				c, err := net.Dial("tcp", storage)
				if err != nil {
					return true
				}
				c.Close()
				return false
			})
		})
	}
}
