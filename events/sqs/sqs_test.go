package sqs

import (
	"strings"
	"testing"
	"time"
)

func TestParseQueueURL(t *testing.T) {
	for _, tc := range []struct {
		in, region, name, dead string
		aws                    bool
		err                    string
	}{
		{in: "https://sqs.eu-west-1.amazonaws.com/123456789012/blobvalet-events", region: "eu-west-1", name: "blobvalet-events", aws: true, dead: "https://sqs.eu-west-1.amazonaws.com/123456789012/blobvalet-events-dead"},
		{in: "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", region: "cn-north-1", name: "q", aws: true},
		{in: "https://sqs-fips.us-gov-west-1.amazonaws.com/123456789012/q", region: "us-gov-west-1", name: "q", aws: true},
		{in: "https://us-west-2.queue.amazonaws.com/123456789012/q_1", region: "us-west-2", name: "q_1", aws: true},
		{in: "https://queue.amazonaws.com/123456789012/q", region: "us-east-1", name: "q", aws: true},
		{in: "https://vpce-0abc-xyz.sqs.eu-central-1.vpce.amazonaws.com/123456789012/q", region: "eu-central-1", name: "q", aws: true},
		{in: "http://127.0.0.1:4100/000000000000/q", name: "q", dead: "http://127.0.0.1:4100/000000000000/q-dead"},
		{in: "https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo", err: "FIFO"},
		{in: "https://sqs.eu-west-1.amazonaws.com/123456789012/" + strings.Repeat("a", 76), err: "1 to 75"},
		{in: "https://sqs.eu-west-1.amazonaws.com/123456789012/a.b", err: "letters, digits"},
		{in: "https://sqs.eu-west-1.amazonaws.com/q", err: "/ACCOUNT/NAME"},
		{in: "https://sqs.eu-west-1.amazonaws.com/1/q/x", err: "/ACCOUNT/NAME"},
		{in: "https://sqs.eu-west-1.amazonaws.com/1/q?x=1", err: "want https://"},
		{in: "https://user:pw@sqs.eu-west-1.amazonaws.com/1/q", err: "want https://"},
		{in: "ftp://host/1/q", err: "want https://"},
		{in: "blobvalet-events", err: "want https://"},
	} {
		u, err := ParseQueueURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || u.Region != tc.region || u.Name != tc.name || u.AWS != tc.aws {
			t.Errorf("%s: %+v, %v", tc.in, u, err)
		}
		if tc.dead != "" && u.DeadLetterURL() != tc.dead {
			t.Errorf("%s: dead letters at %s, want %s", tc.in, u.DeadLetterURL(), tc.dead)
		}
	}
}

// FuzzParseQueueURL: a URL that parses names a queue whose dead-letter
// queue is named by the rules too, on the same host and account.
func FuzzParseQueueURL(f *testing.F) {
	for _, s := range []string{"https://sqs.eu-west-1.amazonaws.com/123456789012/q", "http://127.0.0.1:1/0/q", "https://a/b/c.fifo", "https://h/%2f/q", "https://h//q", "https://h/1/%71"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseQueueURL(s)
		if err != nil {
			return
		}
		if !queueName.MatchString(u.Name) || len(u.Name) > MaxNameLength-5 || u.Account == "" {
			t.Fatalf("%q parsed to %+v", s, u)
		}
		d, err := ParseQueueURL(u.DeadLetterURL())
		if err != nil || d.Name != u.Name+"-dead" || d.Account != u.Account {
			t.Fatalf("dead-letter URL %q of %q: %+v, %v", u.DeadLetterURL(), s, d, err)
		}
	})
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int32{-time.Second: 0, 0: 0, time.Millisecond: 1, 1500 * time.Millisecond: 2, 24 * time.Hour: 43200} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestRedriveReceives(t *testing.T) {
	for policy, want := range map[string]int{
		`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":5}`:      5,
		`{"maxReceiveCount": "12", "deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d"}`: 12,
		`{"maxReceiveCount": "0", "deadLetterTargetArn":""}`:                           0,
		``: 0,
	} {
		n, ok := redriveReceives(policy)
		if n != want && ok || ok != (want > 0) {
			t.Errorf("%s: %d, %v", policy, n, ok)
		}
	}
}
