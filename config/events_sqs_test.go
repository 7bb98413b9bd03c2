package config

import (
	"strings"
	"testing"
)

const sqsWebhook = "webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN, max_attempts: 4}\n"

// TestEventsOnSQS: events.kind sqs puts the events queue in SQS, named by
// its URL, with the region from the URL and the static credential read
// from the environment; without one, the default chain.
func TestEventsOnSQS(t *testing.T) {
	getenv := env(map[string]string{"BLOBVALET_STORAGE_KEY": testKey, "ALICE_TOKEN": "alice-token-0123456789", "AWS_KEY": "AKIDEXAMPLE", "AWS_SECRET": "secret-0123456789"})
	cfg, err := Parse([]byte(minimal+sqsWebhook+"events: {kind: sqs, queue_url: \"https://sqs.eu-west-1.amazonaws.com/123456789012/uploads-events\", access_key_id_env: AWS_KEY, secret_access_key_env: AWS_SECRET}\n"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Events()
	if e == nil || e.SQS == nil || e.Queue != "uploads-events" || e.Endpoint != "" || e.MaxAttempts != 4 {
		t.Fatalf("events %+v", e)
	}
	o := e.SQS.SQSOptions()
	if o.QueueURL.Region != "eu-west-1" || o.AccessKeyID != "AKIDEXAMPLE" || o.SecretAccessKey != "secret-0123456789" || o.SessionToken != "" {
		t.Errorf("options %+v", o)
	}
	if s := e.SQS.String(); strings.Contains(s, "secret-0123456789") || !strings.Contains(s, "uploads-events") {
		t.Errorf("String() = %q", s)
	}
	cfg, err = Parse([]byte(minimal+sqsWebhook+"events: {kind: sqs, queue_url: \"http://127.0.0.1:4100/000000000000/q\", region: us-east-1}\n"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Events().SQS.SQSOptions(); o.AccessKeyID != "" || o.Region != "us-east-1" {
		t.Errorf("options %+v, want the default chain", o)
	}
	// Without a webhook there are no events, wherever the queue would be.
	cfg, err = Parse([]byte(minimal+"events: {kind: sqs, queue_url: \"https://sqs.eu-west-1.amazonaws.com/1/q\"}\n"), getenv)
	if err != nil || cfg.Events() != nil {
		t.Fatalf("no webhook: %v, %+v", err, cfg.Events())
	}
}

func TestEventsOnSQSRefused(t *testing.T) {
	getenv := env(map[string]string{"BLOBVALET_STORAGE_KEY": testKey, "ALICE_TOKEN": "alice-token-0123456789", "AWS_KEY": "AKIDEXAMPLE"})
	for _, tc := range []struct{ name, events, want string }{
		{"bad kind", "{kind: kafka}", `events.kind: want azure or sqs, got "kafka"`},
		{"no url", "{kind: sqs}", "events.queue_url: required with kind sqs"},
		{"name not url", "{kind: sqs, queue_url: blobvalet-events}", "events.queue_url: queue URL \"blobvalet-events\": want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME"},
		{"fifo", `{kind: sqs, queue_url: "https://sqs.eu-west-1.amazonaws.com/1/q.fifo"}`, "events.queue_url: queue q.fifo is a FIFO queue"},
		{"no region", `{kind: sqs, queue_url: "https://queues.example.com/1/q"}`, "events.region: required: the queue URL https://queues.example.com/1/q names no AWS region"},
		{"http", `{kind: sqs, queue_url: "http://queues.example.com/1/q", region: r}`, "events.queue_url: \"http://queues.example.com/1/q\" uses http"},
		{"http endpoint", `{kind: sqs, queue_url: "https://sqs.eu-west-1.amazonaws.com/1/q", endpoint: "http://sqs.example.com"}`, "events.endpoint: \"http://sqs.example.com\" uses http"},
		{"key without secret", `{kind: sqs, queue_url: "https://sqs.eu-west-1.amazonaws.com/1/q", access_key_id_env: AWS_KEY}`, "events: a static credential needs both"},
		{"unset secret", `{kind: sqs, queue_url: "https://sqs.eu-west-1.amazonaws.com/1/q", access_key_id_env: AWS_KEY, secret_access_key_env: NOPE}`, "events.secret_access_key: environment variable NOPE is not set or empty"},
		{"sqs fields on azure", `{queue_url: "https://sqs.eu-west-1.amazonaws.com/1/q"}`, "events: queue_url, region, endpoint and credentials are for kind sqs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal+sqsWebhook+"events: "+tc.events+"\n"), getenv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	_, err := Parse([]byte(minimal+"webhook: {url: \"https://hooks.example.com/x\", secret_env: ALICE_TOKEN, queue: mine}\nevents: {kind: sqs, queue_url: \"https://sqs.eu-west-1.amazonaws.com/1/q\"}\n"), getenv)
	if err == nil || !strings.Contains(err.Error(), "webhook.queue: names an Azure queue; with events.kind sqs the queue is events.queue_url") {
		t.Fatalf("webhook.queue with sqs: %v", err)
	}
}
