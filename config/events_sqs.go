package config

import (
	"fmt"
	"strings"

	"github.com/blobvalet/blobvalet/events/sqs"
)

// Events queue kinds.
const (
	EventsKindAzure = "azure"
	EventsKindSQS   = "sqs"
)

// EventsQueue chooses the service that keeps webhook events until the
// webhook takes them. Kind azure (the default) keeps them in the storage
// account's Queue service (webhook.queue, storage.queue_endpoint); kind sqs
// in an Amazon SQS standard queue and its dead-letter queue, QUEUE-dead in
// the same account and region, which the operator creates. The fields
// other than Kind are for sqs.
type EventsQueue struct {
	// Kind is azure (the default) or sqs.
	Kind string `yaml:"kind"`
	// QueueURL is the SQS queue's URL, as the console and
	// "aws sqs get-queue-url" show it:
	// https://sqs.REGION.amazonaws.com/ACCOUNT/NAME.
	QueueURL string `yaml:"queue_url"`
	// Region signs the requests; default: the one in QueueURL, required
	// when the URL names none.
	Region string `yaml:"region"`
	// Endpoint is the SQS service URL; default: AWS's for the region, or
	// QueueURL's scheme and host when that is not AWS's public endpoint (a
	// VPC endpoint, an SQS-compatible service).
	Endpoint string `yaml:"endpoint"`
	// AccessKeyIDEnv or AccessKeyIDFile, with SecretAccessKeyEnv or
	// SecretAccessKeyFile (and optionally SessionTokenEnv or
	// SessionTokenFile), give a static credential. Without them the AWS
	// SDK's default chain applies: AWS_* environment variables, shared
	// config and credentials files (AWS_PROFILE), web identity (EKS), ECS
	// and EC2 roles.
	AccessKeyIDEnv      string `yaml:"access_key_id_env"`
	AccessKeyIDFile     string `yaml:"access_key_id_file"`
	SecretAccessKeyEnv  string `yaml:"secret_access_key_env"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
	SessionTokenEnv     string `yaml:"session_token_env"`
	SessionTokenFile    string `yaml:"session_token_file"`

	url                           sqs.QueueURL
	accessKey, secretKey, session string
}

// IsSQS reports whether events wait in Amazon SQS.
func (q *EventsQueue) IsSQS() bool { return q.Kind == EventsKindSQS }

// SQSOptions returns what events/sqs needs to reach the queues; the
// caller adds its HTTP client and retries.
func (q *EventsQueue) SQSOptions() sqs.Options {
	return sqs.Options{
		QueueURL: q.url, Region: q.Region, Endpoint: q.Endpoint,
		AccessKeyID: q.accessKey, SecretAccessKey: q.secretKey, SessionToken: q.session,
	}
}

func (q *EventsQueue) complete(p *problems, getenv func(string) string) {
	switch q.Kind {
	case "", EventsKindAzure:
		q.Kind = EventsKindAzure
		if q.QueueURL != "" || q.Region != "" || q.Endpoint != "" || q.AccessKeyIDEnv != "" || q.AccessKeyIDFile != "" ||
			q.SecretAccessKeyEnv != "" || q.SecretAccessKeyFile != "" || q.SessionTokenEnv != "" || q.SessionTokenFile != "" {
			p.add("events", "queue_url, region, endpoint and credentials are for kind sqs; set events.kind: sqs, or remove them (the Azure queue is webhook.queue)")
		}
		return
	case EventsKindSQS:
	default:
		p.add("events.kind", "want azure or sqs, got %q", q.Kind)
		return
	}
	if q.QueueURL == "" {
		p.add("events.queue_url", "required with kind sqs: the queue's URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (aws sqs get-queue-url --queue-name NAME)")
	} else if u, err := sqs.ParseQueueURL(q.QueueURL); err != nil {
		p.add("events.queue_url", "%v", err)
	} else {
		q.url = u
		if q.Region == "" && u.Region == "" {
			p.add("events.region", "required: the queue URL %s names no AWS region", q.QueueURL)
		}
		if strings.HasPrefix(strings.ToLower(q.QueueURL), "http:") && !IsLoopback(q.QueueURL) {
			p.add("events.queue_url", "%q uses http, which would send events in the clear; use https (http only on loopback)", q.QueueURL)
		}
	}
	if q.Endpoint != "" {
		if err := checkEndpoint(q.Endpoint); err != nil {
			p.add("events.endpoint", "%v", strings.Replace(err.Error(), "https://ACCOUNT.blob.core.windows.net", "https://sqs.REGION.amazonaws.com", 1))
		}
		q.Endpoint = strings.TrimSuffix(q.Endpoint, "/")
	}
	q.completeCredential(p, getenv)
}

// completeCredential reads the static credential, if one is configured.
func (q *EventsQueue) completeCredential(p *problems, getenv func(string) string) {
	hasKey := q.AccessKeyIDEnv != "" || q.AccessKeyIDFile != ""
	hasSecret := q.SecretAccessKeyEnv != "" || q.SecretAccessKeyFile != ""
	hasToken := q.SessionTokenEnv != "" || q.SessionTokenFile != ""
	if !hasKey && !hasSecret && !hasToken {
		return // the AWS SDK's default credential chain
	}
	if !hasKey || !hasSecret {
		p.add("events", "a static credential needs both access_key_id_env/_file and secret_access_key_env/_file; set neither to use the AWS default credential chain")
		return
	}
	var err error
	if q.accessKey, err = readSecret(q.AccessKeyIDEnv, q.AccessKeyIDFile, getenv); err != nil {
		p.add("events.access_key_id", "%v", err)
	}
	if q.secretKey, err = readSecret(q.SecretAccessKeyEnv, q.SecretAccessKeyFile, getenv); err != nil {
		p.add("events.secret_access_key", "%v", err)
	}
	if hasToken {
		if q.session, err = readSecret(q.SessionTokenEnv, q.SessionTokenFile, getenv); err != nil {
			p.add("events.session_token", "%v", err)
		}
	}
}

// String describes the queue for log lines and errors, without secrets.
func (q *EventsQueue) String() string {
	if !q.IsSQS() {
		return "Azure Queue Storage"
	}
	return fmt.Sprintf("SQS queue %s", q.QueueURL)
}
