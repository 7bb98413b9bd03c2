package sqsemu_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/blobvalet/blobvalet/sqsemu/sqsemutest"
)

// TestStartStop: through the front, aws-sdk-go-v2 creates a queue, sends,
// receives, hides, receives again and deletes a message; a request signed
// with another secret or key is refused; Stop ends goaws and frees the
// front's port.
func TestStartStop(t *testing.T) {
	s := sqsemutest.Start(t)
	ctx := context.Background()
	c := s.Client()
	url, err := s.CreateQueue(ctx, "one", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if url != s.QueueURL("one") || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("queue URL %q, want %q", url, s.QueueURL("one"))
	}
	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("one")})
	if err != nil || aws.ToString(got.QueueUrl) != url {
		t.Fatalf("GetQueueUrl: %v, %v", got, err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout}})
	if err != nil || attrs.Attributes["VisibilityTimeout"] != "2" {
		t.Fatalf("GetQueueAttributes: %v, %v", attrs, err)
	}
	body := `{"a":"<b> & 'c'"}`
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
	recv := func() []types.Message {
		t.Helper()
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	msgs := recv()
	if len(msgs) != 1 || aws.ToString(msgs[0].Body) != body || msgs[0].Attributes["ApproximateReceiveCount"] != "1" {
		t.Fatalf("received %+v", msgs)
	}
	if again := recv(); len(again) != 0 {
		t.Fatalf("a received message was visible: %+v", again)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	msgs2 := recv()
	if len(msgs2) != 1 || aws.ToString(msgs2[0].MessageId) != aws.ToString(msgs[0].MessageId) {
		t.Fatalf("after visibility 0, received %+v", msgs2)
	}
	// The first receipt handle is stale: goaws refuses it.
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msgs[0].ReceiptHandle})
	var invalid *types.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Fatalf("delete with a stale receipt handle: %v, want ReceiptHandleIsInvalid", err)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msgs2[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: msgs2[0].ReceiptHandle, VisibilityTimeout: 5})
	var notInFlight *types.MessageNotInflight
	if !errors.As(err, &notInFlight) {
		t.Fatalf("hide a deleted message: %v, want MessageNotInflight", err)
	}
	_, err = c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("none")})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("GetQueueUrl of a missing queue: %v, want QueueDoesNotExist", err)
	}

	// Signatures are checked: the emulator can test that blobvalet signs.
	for name, client := range map[string]*sqs.Client{
		"wrong secret": s.NewClient(s.AccessKey(), strings.Repeat("0", 40)),
		"wrong key":    s.NewClient("AKIDOTHER", s.SecretKey()),
	} {
		_, err := client.ListQueues(ctx, &sqs.ListQueuesInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || (api.ErrorCode() != "SignatureDoesNotMatch" && api.ErrorCode() != "InvalidClientTokenId") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}

	pid := s.Pid()
	addr := strings.TrimPrefix(s.Endpoint(), "http://")
	s.Stop()
	s.Stop()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after Stop")
	}
	if err := syscall.Kill(-pid, 0); err == nil {
		t.Errorf("process group %d still has processes", pid)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("front still listening on %s", addr)
	}
}

// TestVisibilityComesBack: a received message that is neither deleted nor
// hidden again is visible once the queue's visibility timeout has passed,
// on goaws's one-second tick.
func TestVisibilityComesBack(t *testing.T) {
	s := sqsemutest.Shared(t)
	ctx := context.Background()
	url, err := s.CreateQueue(ctx, "comes-back", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	first, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err != nil || len(first.Messages) != 1 {
		t.Fatalf("receive: %v, %v", first, err)
	}
	start := time.Now()
	for {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 1 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("message not visible again after 10 s")
		}
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("visible again after %v, before its timeout", d)
	}
	if s2 := sqsemutest.Shared(t); s2 != s {
		t.Error("Shared started a second goaws")
	}
}

// TestNotTranslated: a parameter the front does not translate is refused,
// not dropped.
func TestNotTranslated(t *testing.T) {
	s := sqsemutest.Shared(t)
	ctx := context.Background()
	url, err := s.CreateQueue(ctx, "not-translated", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Client().SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &url, MessageBody: aws.String("x"),
		MessageAttributes: map[string]types.MessageAttributeValue{"a": {DataType: aws.String("String"), StringValue: aws.String("b")}},
	})
	if err == nil || !strings.Contains(err.Error(), "does not translate MessageAttributes") {
		t.Fatalf("SendMessage with attributes: %v", err)
	}
}
