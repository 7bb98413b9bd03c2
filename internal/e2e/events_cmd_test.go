package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/blobvalet/blobvalet/azurite/azuritetest"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/azurequeue"
)

// TestEventsCommand: "blobvalet events list" shows a dead letter, "replay"
// puts it back in the events queue, and neither prints the account key.
func TestEventsCommand(t *testing.T) {
	az := azuritetest.StartWithQueue(t, "uploads", "incoming")
	cred, _ := azqueue.NewSharedKeyCredential(az.Account(), az.Key())
	svc, err := azqueue.NewServiceClientWithSharedKeyCredential(az.QueueEndpoint()+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	queues, err := azurequeue.NewQueues(svc, "cmd-events")
	if err != nil {
		t.Fatal(err)
	}
	if err := queues.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	// An event with no webhook for its target and one attempt: dead at once.
	if err := (&events.Outbox{Queue: queues.Main}).Enqueue(ctx, events.Event{ID: "ev-1", Target: "gone-rule", Body: []byte(`{"id":"ev-1"}`)}); err != nil {
		t.Fatal(err)
	}
	d := &events.Deliverer{Queues: queues.Queues, Targets: func(string) (events.Target, bool) { return events.Target{}, false }, MaxAttempts: 1}
	if n, err := d.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}

	path := writeConfig(t, Config{
		Storage: Storage{Account: az.Account(), Endpoint: az.Endpoint(), KeyEnv: "TEST_STORAGE_KEY"},
		Auth:    Auth{Tokens: []Token{{User: "alice", TokenEnv: "TEST_ALICE_TOKEN"}}},
		Rules:   []Rule{{Name: "own-folder", Users: []string{"*"}, Container: "uploads", Blobs: "users/{user}/**", Methods: []string{"PUT"}}},
		Staging: Staging{Container: "incoming"},
	})
	setSecrets(t, az)
	events := func(want int, args ...string) string {
		t.Helper()
		var out, errOut syncBuffer
		args = append([]string{"events", "--config", path, "--queue", "cmd-events", "--queue-endpoint", az.QueueEndpoint()}, args...)
		if code := run(ctx, args, &out, &errOut); code != want {
			t.Fatalf("%v exited %d, want %d: %s%s", args, code, want, out.String(), errOut.String())
		}
		if strings.Contains(out.String()+errOut.String(), az.Key()) {
			t.Fatal("the account key in the output")
		}
		return out.String() + errOut.String()
	}

	out := events(0, "list")
	if !strings.Contains(out, "ev-1") || !strings.Contains(out, "gone-rule") || !strings.Contains(out, `no webhook configured for target "gone-rule"`) {
		t.Fatalf("list printed %q", out)
	}
	var dl struct {
		ID       string          `json:"id"`
		Attempts int             `json:"attempts"`
		Body     json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal([]byte(events(0, "list", "--json")), &dl); err != nil || dl.ID != "ev-1" || dl.Attempts != 1 || string(dl.Body) != `{"id":"ev-1"}` {
		t.Fatalf("list --json: %+v, %v", dl, err)
	}
	if out := events(1, "replay", "ev-2"); !strings.Contains(out, "ev-2") {
		t.Fatalf("replay of an unknown id printed %q", out)
	}
	if out := events(0, "replay", "ev-1"); !strings.Contains(out, "replayed ev-1") {
		t.Fatalf("replay printed %q", out)
	}
	if out := events(0, "list"); !strings.Contains(out, "no dead letters") {
		t.Fatalf("list after replay printed %q", out)
	}
	peek, err := queues.Main.Receive(ctx, 32, 1)
	if err != nil || len(peek) != 1 {
		t.Fatalf("events queue after replay: %d messages, %v", len(peek), err)
	}
	events(2, "replay")
	events(2, "list", "extra")
	events(2, "frobnicate")
	if out := events(1, "--queue", "missing-queue", "list"); !strings.Contains(out, "az storage queue create --account-name devstoreaccount1 --name missing-queue") {
		t.Fatalf("missing queue: %q", out)
	}
}
