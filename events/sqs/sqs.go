// Package sqs keeps webhook events in Amazon SQS: it adapts an SQS client
// to events.Queue, and finds, creates and checks the events queue and its
// dead-letter queue, for deployments that store uploads on S3 (or any
// other that prefers SQS to Azure Queue Storage). Package events knows
// queues only through events.Queue, so it links no AWS SDK.
//
// SQS gives what events need: a received message is hidden for its
// visibility timeout, which is the deliverer's lease and its backoff
// (ChangeMessageVisibility); ApproximateReceiveCount is the attempt's
// number, as Azure's dequeue count is; a delete is idempotent. What
// differs from Azure Queue Storage: a message lives at most the queue's
// retention period (4 days by default, 14 at most), so the dead-letter
// queue should keep 14 days and dead letters be looked at within them;
// a receive returns at most 10 messages and hides them for at most 12
// hours; and only standard queues are used (a FIFO queue would hold up
// every later event behind one the webhook refuses).
package sqs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/events"
)

// SQS's limits that the adapter keeps to.
const (
	// MaxMessageSize is the largest message every SQS region takes: 256
	// KiB. Events are smaller (events.MaxMessageSize, Azure's limit, which
	// keeps an event movable between the two).
	MaxMessageSize = 256 << 10
	// MaxReceive is the most messages one ReceiveMessage returns.
	MaxReceive = 10
	// MaxVisibility is the longest visibility timeout: 12 hours.
	MaxVisibility = 12 * time.Hour
	// MaxNameLength is the longest queue name; the events queue's leaves
	// room for events.DeadLetterSuffix.
	MaxNameLength = 80
	// RecommendedRetention is the retention Ensure gives new queues and
	// Check recommends for the dead-letter queue: SQS's longest, 14 days.
	RecommendedRetention = 14 * 24 * time.Hour
)

// receiveWait is how long a receive waits for a message to arrive. Long
// polling, even this short, asks every SQS server, so that a receive
// finds a message whenever the queue has one, where short polling samples
// a few servers and may answer empty; a scan of the dead-letter queue
// relies on that.
const receiveWait = time.Second

// QueueURL is a checked SQS queue URL: scheme://host/ACCOUNT/NAME.
type QueueURL struct {
	// URL is the queue URL as given.
	URL string
	// Account and Name are its path's two segments.
	Account, Name string
	// Region is the AWS region its host names, or "" for a host that is
	// not AWS's (an emulator, a proxy).
	Region string
	// AWS tells whether the host is an AWS SQS endpoint.
	AWS bool
}

// queueName is what SQS accepts as a standard queue's name.
var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// awsHosts are the host names of SQS's endpoints, each with the region.
var awsHosts = []*regexp.Regexp{
	regexp.MustCompile(`^sqs(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$`),
	regexp.MustCompile(`^([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?$`),
	regexp.MustCompile(`^vpce-[a-z0-9-]+\.sqs\.([a-z0-9-]+)\.vpce\.amazonaws\.com(?:\.cn)?$`),
}

// ParseQueueURL checks a queue URL as SQS writes it
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) and says what is wrong
// with one that is not: the events queue must be a standard queue whose
// name leaves room for the dead-letter suffix.
func ParseQueueURL(raw string) (QueueURL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return QueueURL{}, fmt.Errorf("queue URL %q: want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME", raw)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" || u.RawPath != "" || !strings.HasSuffix(raw, "/"+parts[1]) {
		return QueueURL{}, fmt.Errorf("queue URL %q: want the path /ACCOUNT/NAME, as SQS writes queue URLs", raw)
	}
	q := QueueURL{URL: raw, Account: parts[0], Name: parts[1]}
	if strings.HasSuffix(q.Name, ".fifo") {
		return QueueURL{}, fmt.Errorf("queue %s is a FIFO queue: events need a standard queue (a FIFO queue holds every later event behind one the webhook refuses)", q.Name)
	}
	if !queueName.MatchString(q.Name) || len(q.Name)+len(events.DeadLetterSuffix) > MaxNameLength {
		return QueueURL{}, fmt.Errorf("queue name %q: want 1 to %d letters, digits, hyphens and underscores (the dead-letter queue adds %q)", q.Name, MaxNameLength-len(events.DeadLetterSuffix), events.DeadLetterSuffix)
	}
	host := strings.ToLower(u.Hostname())
	for _, re := range awsHosts {
		if m := re.FindStringSubmatch(host); m != nil {
			q.Region, q.AWS = m[1], true
		}
	}
	if host == "queue.amazonaws.com" {
		q.Region, q.AWS = "us-east-1", true
	}
	return q, nil
}

// DeadLetterURL is the URL of the dead-letter queue: the same account and
// host, named events.DeadLetterName(Name).
func (q QueueURL) DeadLetterURL() string {
	return strings.TrimSuffix(q.URL, q.Name) + events.DeadLetterName(q.Name)
}

// Options say how to reach the events queue.
type Options struct {
	// QueueURL is the events queue's URL; its dead letters are in
	// DeadLetterURL().
	QueueURL QueueURL
	// Region signs the requests; "" means the queue URL's.
	Region string
	// Endpoint is the SQS service URL; "" means AWS's for the region when
	// the queue URL is AWS's standard one, else the queue URL's scheme and
	// host (a VPC endpoint, an SQS-compatible service).
	Endpoint string
	// AccessKeyID, SecretAccessKey and SessionToken are a static
	// credential; without AccessKeyID the AWS SDK's default chain applies
	// (AWS_* environment variables, shared config and credentials files,
	// web identity, ECS and EC2 roles).
	AccessKeyID, SecretAccessKey, SessionToken string
	// TryTimeout bounds one try of a call, waiting for the answer's
	// headers included, so that a hung connection costs a try, not the
	// call; 0 means the SDK's defaults. It must exceed a receive's long
	// poll, one second.
	TryTimeout time.Duration
	// RetryMaxAttempts bounds the tries of one call, the first included;
	// 0 means the SDK's default (3).
	RetryMaxAttempts int
}

// region is the region requests are signed for.
func (o Options) region() string {
	if o.Region != "" {
		return o.Region
	}
	return o.QueueURL.Region
}

// NewClient returns an SQS client as opts say.
func NewClient(ctx context.Context, opts Options) (*sqs.Client, error) {
	region := opts.region()
	if region == "" {
		return nil, fmt.Errorf("the region of queue %s is not in its URL: set it", opts.QueueURL.URL)
	}
	load := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if opts.AccessKeyID != "" {
		load = append(load, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, opts.SessionToken)))
	}
	if t := opts.TryTimeout; t > 0 {
		// The SDK's buildable client keeps its own transport settings (a
		// custom CA bundle from AWS_CA_BUNDLE, say).
		client := awshttp.NewBuildableClient().WithTimeout(2 * t).WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = t
		})
		load = append(load, awsconfig.WithHTTPClient(client))
	}
	if opts.RetryMaxAttempts > 0 {
		load = append(load, awsconfig.WithRetryMaxAttempts(opts.RetryMaxAttempts))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	endpoint := opts.Endpoint
	if endpoint == "" && (!opts.QueueURL.AWS || strings.HasPrefix(strings.ToLower(hostOf(opts.QueueURL.URL)), "vpce-")) {
		// Not AWS's public endpoint: the queue's own host serves SQS.
		endpoint = schemeHost(opts.QueueURL.URL)
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func schemeHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Queues are the events queue and its dead-letter queue, which Ensure and
// Check look for.
type Queues struct {
	*events.Queues

	client *sqs.Client
	url    QueueURL
}

// NewQueues returns the events queue at u and its dead-letter queue.
func NewQueues(client *sqs.Client, u QueueURL) *Queues {
	return &Queues{
		Queues: &events.Queues{
			Name: u.Name,
			Main: New(client, u.URL),
			Dead: New(client, u.DeadLetterURL()),
		},
		client: client,
		url:    u,
	}
}

// Ensure creates both queues where they are missing, as standard queues
// that keep messages RecommendedRetention. For development and tests: in
// production the queues are made, with their access policies, by the
// operator.
func (q *Queues) Ensure(ctx context.Context) error {
	for _, n := range []string{q.Name, events.DeadLetterName(q.Name)} {
		_, err := q.client.CreateQueue(ctx, &sqs.CreateQueueInput{
			QueueName:  aws.String(n),
			Attributes: map[string]string{string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(RecommendedRetention / time.Second))},
		})
		if err != nil {
			return fmt.Errorf("create queue %s: %w", n, Wrap(err))
		}
	}
	return nil
}

// Report is what Check found.
type Report struct {
	// DeadRetention is how long the dead-letter queue keeps a message.
	DeadRetention time.Duration
	// Warnings say what works but is not as recommended.
	Warnings []string
}

// Check makes sure both queues exist and can be read, and says how to
// create a missing one. maxAttempts is the deliverer's: a redrive policy
// on the events queue that moves messages sooner takes events away before
// their last attempt, which is an error.
func (q *Queues) Check(ctx context.Context, maxAttempts int) (Report, error) {
	var r Report
	for _, u := range []string{q.url.URL, q.url.DeadLetterURL()} {
		name := u[strings.LastIndex(u, "/")+1:]
		out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(u),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
		})
		var missing *types.QueueDoesNotExist
		if errors.As(err, &missing) {
			return r, fmt.Errorf("queue %s does not exist (%s): create it with: aws sqs create-queue --queue-name %s --attributes MessageRetentionPeriod=%d", name, u, name, int(RecommendedRetention/time.Second))
		}
		if err != nil {
			return r, fmt.Errorf("queue %s: %w", u, Wrap(err))
		}
		attrs := out.Attributes
		if attrs["FifoQueue"] == "true" {
			return r, fmt.Errorf("queue %s is a FIFO queue: events need a standard queue", name)
		}
		if u == q.url.URL {
			if n, ok := redriveReceives(attrs["RedrivePolicy"]); ok && n < maxAttempts {
				return r, fmt.Errorf("queue %s has a redrive policy that moves a message after %d receives, before blobvalet's %d attempts: remove it (blobvalet moves events to %s itself) or raise its maxReceiveCount above %d", name, n, maxAttempts, events.DeadLetterName(q.Name), maxAttempts)
			}
			continue
		}
		if s, err := strconv.Atoi(attrs["MessageRetentionPeriod"]); err == nil {
			r.DeadRetention = time.Duration(s) * time.Second
			if r.DeadRetention < RecommendedRetention {
				r.Warnings = append(r.Warnings, fmt.Sprintf("dead-letter queue %s keeps messages %v, less than SQS's longest, 14 days: dead letters are lost after that; aws sqs set-queue-attributes --queue-url %s --attributes MessageRetentionPeriod=%d", name, r.DeadRetention, u, int(RecommendedRetention/time.Second)))
			}
		}
	}
	return r, nil
}

// maxReceiveCount finds maxReceiveCount in a redrive policy, which SQS
// writes as a number or a string.
var maxReceiveCount = regexp.MustCompile(`"maxReceiveCount"\s*:\s*"?(\d+)`)

// redriveReceives reads maxReceiveCount from a queue's redrive policy;
// false when there is none (goaws writes a count of 0 then).
func redriveReceives(policy string) (int, bool) {
	m := maxReceiveCount.FindStringSubmatch(policy)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil && n > 0
}

// New adapts an SQS client to events.Queue, on the queue at queueURL.
func New(c *sqs.Client, queueURL string) events.Queue { return queue{c: c, url: queueURL} }

type queue struct {
	c   *sqs.Client
	url string
}

func (q queue) Send(ctx context.Context, text string) error {
	if len(text) > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, SQS takes at most %d", events.ErrTooLarge, len(text), MaxMessageSize)
	}
	_, err := q.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(text)})
	return Wrap(err)
}

func (q queue) Receive(ctx context.Context, n int, hide time.Duration) ([]events.Message, error) {
	out, err := q.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.url),
		MaxNumberOfMessages: int32(min(max(n, 1), MaxReceive)),
		VisibilityTimeout:   max(1, seconds(hide)),
		WaitTimeSeconds:     seconds(receiveWait),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
	})
	if err != nil {
		return nil, Wrap(err)
	}
	msgs := make([]events.Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		if m.MessageId == nil || m.ReceiptHandle == nil || m.Body == nil {
			continue
		}
		msg := events.Message{ID: *m.MessageId, PopReceipt: *m.ReceiptHandle, Text: *m.Body}
		if n, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)], 10, 64); err == nil {
			msg.DequeueCount = n
		}
		if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
			msg.Inserted = time.UnixMilli(ms).UTC()
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

func (q queue) Hide(ctx context.Context, m events.Message, d time.Duration) error {
	_, err := q.c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(m.PopReceipt), VisibilityTimeout: seconds(d),
	})
	return lost(err)
}

func (q queue) Delete(ctx context.Context, m events.Message) error {
	_, err := q.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(m.PopReceipt)})
	return lost(err)
}

// lost marks err with events.ErrMessageLost when it means the receipt
// handle no longer holds the message: another receiver took it over once
// its visibility timeout had passed, or it was deleted.
func lost(err error) error {
	if err == nil {
		return nil
	}
	var notInFlight *types.MessageNotInflight
	var invalid *types.ReceiptHandleIsInvalid
	var api smithy.APIError
	switch {
	case errors.As(err, &notInFlight), errors.As(err, &invalid):
	case errors.As(err, &api) && api.ErrorCode() == "InvalidParameterValue" && strings.Contains(api.ErrorMessage(), "receipt handle has expired"):
		// SQS has no error type of its own for an expired receipt
		// handle: its message is the only sign.
	default:
		return Wrap(err)
	}
	return fmt.Errorf("%w: %w", events.ErrMessageLost, Wrap(err))
}

// Wrap classifies an SQS call's error as one of blobstore's (ErrNotFound
// for a missing queue, ErrRefused, ErrThrottled, ErrUnreachable, ErrSlow),
// so that readiness and the log say what failed as they do for storage.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *blobstore.Error
	if errors.As(err, &e) {
		return err
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Response != nil {
		status = re.Response.StatusCode
	}
	var oe *net.OpError
	if status == 0 || errors.As(err, &oe) {
		return blobstore.Wrap(err)
	}
	var code string
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	return &blobstore.Error{Class: classify(code, status), Status: status, Code: code, Err: err}
}

func classify(code string, status int) blobstore.Class {
	switch code {
	case "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue":
		return blobstore.NotFound
	case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
		"InvalidSecurity", "ExpiredToken", "KMS.AccessDeniedException", "KmsAccessDenied":
		return blobstore.Refused
	case "RequestThrottled", "ThrottlingException", "Throttling", "OverLimit":
		return blobstore.Throttled
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return blobstore.Refused
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return blobstore.Throttled
	}
	return blobstore.Failed
}

// seconds rounds d up to whole seconds, SQS's unit, at most MaxVisibility.
func seconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	d = min(d, MaxVisibility)
	return int32((d + time.Second - 1) / time.Second)
}
