package sqs_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/events/eventstest"
	"github.com/blobvalet/blobvalet/events/sqs"
	"github.com/blobvalet/blobvalet/sqsemu"
	"github.com/blobvalet/blobvalet/sqsemu/sqsemutest"
)

// TestContract runs the events queue's contract on goaws.
func TestContract(t *testing.T) {
	eventstest.Run(t, backend(t, sqsemutest.Shared(t)))
}

// client returns an SQS client of s made as serve makes one, from the
// queue URL and a static key.
func client(t *testing.T, s *sqsemu.Server, u sqs.QueueURL, secret string) *awssqs.Client {
	t.Helper()
	c, err := sqs.NewClient(context.Background(), sqs.Options{QueueURL: u, Region: sqsemu.Region, AccessKeyID: s.AccessKey(), SecretAccessKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// backend makes queues in goaws. goaws ignores a receive's visibility
// timeout, so each queue gets the test's as its own.
func backend(t *testing.T, s *sqsemu.Server) eventstest.Backend {
	return eventstest.Backend{
		NewQueues: func(t *testing.T, visibility time.Duration) *events.Queues {
			t.Helper()
			ctx := context.Background()
			u, err := sqs.ParseQueueURL(s.QueueURL(eventstest.QueueName("events")))
			if err != nil {
				t.Fatal(err)
			}
			q := sqs.NewQueues(client(t, s, u, s.SecretKey()), u)
			if _, err := q.Check(ctx, 10); err == nil || !strings.Contains(err.Error(), "aws sqs create-queue --queue-name "+u.Name+" ") || !errors.Is(err, blobstore.ErrNotFound) && !strings.Contains(err.Error(), "does not exist") {
				t.Fatalf("Check before the queues exist: %v, want how to create them", err)
			}
			for _, n := range []string{u.Name, events.DeadLetterName(u.Name)} {
				if _, err := s.CreateQueue(ctx, n, visibility); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Ensure(ctx); err != nil {
				t.Fatalf("Ensure of existing queues: %v", err)
			}
			if _, err := q.Check(ctx, 10); err != nil {
				t.Fatal(err)
			}
			return q.Queues
		},
		Empty: func(t *testing.T, name string) bool {
			out, err := s.Client().GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
				QueueUrl:       aws.String(s.QueueURL(name)),
				AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
				if n, _ := strconv.Atoi(out.Attributes[a]); n != 0 {
					return false
				}
			}
			return true
		},
		Secrets:        []string{s.SecretKey()},
		CountsReceives: false, // goaws v0.4.5 says ApproximateReceiveCount 1 on every receive
	}
}

// TestEnsureCreates: Ensure creates both queues, which Check then finds;
// a wrong secret is refused, as ErrRefused.
func TestEnsureCreates(t *testing.T) {
	s := sqsemutest.Shared(t)
	ctx := context.Background()
	u, err := sqs.ParseQueueURL(s.QueueURL(eventstest.QueueName("ensure")))
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewQueues(client(t, s, u, s.SecretKey()), u)
	if err := q.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := q.Check(ctx, 10)
	if err != nil || len(r.Warnings) != 0 {
		t.Fatalf("Check after Ensure: %+v, %v", r, err)
	}
	wrong := sqs.NewQueues(client(t, s, u, strings.Repeat("0", 40)), u)
	_, err = wrong.Check(ctx, 10)
	if !errors.Is(err, blobstore.ErrRefused) || strings.Contains(err.Error(), s.SecretKey()) {
		t.Fatalf("Check with a wrong secret: %v, want ErrRefused", err)
	}
	if err := wrong.Main.Send(ctx, "x"); !errors.Is(err, blobstore.ErrRefused) {
		t.Fatalf("Send with a wrong secret: %v, want ErrRefused", err)
	}
}

// TestCheckRedrive: a redrive policy that moves messages before the last
// attempt is refused, saying what to change; one that leaves the attempts
// alone is fine.
func TestCheckRedrive(t *testing.T) {
	s := sqsemutest.Shared(t)
	ctx := context.Background()
	u, err := sqs.ParseQueueURL(s.QueueURL(eventstest.QueueName("redrive")))
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewQueues(client(t, s, u, s.SecretKey()), u)
	if err := q.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateQueue(ctx, u.Name+"-other", 0)
	if err != nil {
		t.Fatal(err)
	}
	setRedrive := func(n int) {
		t.Helper()
		_, err := s.Client().SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{
			QueueUrl:   aws.String(u.URL),
			Attributes: map[string]string{"RedrivePolicy": `{"maxReceiveCount":"` + strconv.Itoa(n) + `","deadLetterTargetArn":"arn:aws:sqs:us-east-1:` + sqsemu.AccountID + `:` + other[strings.LastIndex(other, "/")+1:] + `"}`},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setRedrive(5)
	if _, err := q.Check(ctx, 10); err == nil || !strings.Contains(err.Error(), "after 5 receives, before blobvalet's 10 attempts") {
		t.Fatalf("Check with an early redrive: %v", err)
	}
	setRedrive(20)
	if _, err := q.Check(ctx, 10); err != nil {
		t.Fatalf("Check with a late redrive: %v", err)
	}
}

// TestSendTooLarge: a message over SQS's limit is refused before it is
// sent, as ErrTooLarge.
func TestSendTooLarge(t *testing.T) {
	s := sqsemutest.Shared(t)
	u, _ := sqs.ParseQueueURL(s.QueueURL(eventstest.QueueName("large")))
	q := sqs.New(client(t, s, u, s.SecretKey()), u.URL)
	if err := q.Send(context.Background(), strings.Repeat("a", sqs.MaxMessageSize+1)); !errors.Is(err, events.ErrTooLarge) {
		t.Fatalf("Send of %d bytes: %v", sqs.MaxMessageSize+1, err)
	}
}
