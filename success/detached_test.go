package success

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestDetachedPromotionFailureIsLoggedAndCounted: a copy that fails after
// its request was answered is told to nobody else, so it is logged at
// error level and counted.
func TestDetachedPromotionFailureIsLoggedAndCounted(t *testing.T) {
	st := &gatedStore{fakeStore: &fakeStore{staging: staged(10), promErr: errors.New("storage said no")}, gate: make(chan struct{})}
	c := checker(st, nil)
	core, logs := observer.New(zap.InfoLevel)
	c.Log = zap.New(core)
	var mu sync.Mutex
	var counted []string
	c.BackgroundFailed = func(task string) {
		mu.Lock()
		defer mu.Unlock()
		counted = append(counted, task)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Check(ctx, req("alice", "users/alice/x.png")); err == nil {
		t.Fatal("a copy still running answered success")
	}
	close(st.gate)
	deadline := time.Now().Add(10 * time.Second)
	for logs.FilterMessageSnippet("promotion failed after its request").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the failed detached copy: %v", logs.All())
		}
		time.Sleep(5 * time.Millisecond)
	}
	e := logs.FilterMessageSnippet("promotion failed after its request").All()[0]
	if e.Level != zap.ErrorLevel || e.ContextMap()["blob"] != "users/alice/x.png" || !strings.Contains(e.ContextMap()["reason"].(string), "storage said no") {
		t.Errorf("log line %v %v", e.Level, e.ContextMap())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(counted) != 1 || counted[0] != "promotion" {
		t.Errorf("counted %v, want one promotion failure", counted)
	}
}
