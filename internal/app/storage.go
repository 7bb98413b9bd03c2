package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	azstore "github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/events/azurequeue"
)

// How the Azure storage clients are built: credentials, retries and
// timeouts, for serve and for the commands.

// NewServiceClient returns a Blob service client for st with the SDK's
// default options: the active key, or Entra ID with credential azuread.
func NewServiceClient(st config.Storage) (*service.Client, error) {
	return newServiceClient(st, clientSettings{})
}

// NewQueueServiceClient returns a Queue service client at endpoint (no
// trailing slash) with the credential of the Blob service client.
func NewQueueServiceClient(st config.Storage, endpoint string) (*azqueue.ServiceClient, error) {
	return newQueueServiceClient(st, endpoint, clientSettings{})
}

// clientSettings replace the defaults the storage clients are built with:
// Entra ID's default credential chain and the SDK's client options. For
// tests and embedding.
type clientSettings struct {
	token   azcore.TokenCredential
	options *service.ClientOptions
}

// Storage retries for serve. Each try is cut after storageTryTimeout(budget)
// (also the wait for response headers), so that a hung connection costs one
// try, not the request; two retries at most, soon after, so that a request
// whose first try hangs still has a retry inside its budget.
const (
	storageMaxRetries    = 2
	storageRetryDelay    = 200 * time.Millisecond
	storageMaxRetryDelay = time.Second
)

// storageTryTimeout is two fifths of the success budget, at least a second:
// 8 s of the default 20 s.
func storageTryTimeout(budget time.Duration) time.Duration {
	return max(time.Second, budget*2/5)
}

// storageClientOptions are serve's options for the Blob and Queue service
// clients, tuned to the upload-success budget.
func storageClientOptions(budget time.Duration) policy.ClientOptions {
	try := storageTryTimeout(budget)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = try
	// Storage's bytes as stored: a blob stored with Content-Encoding: gzip
	// must show its encoding to the content check, not be inflated on the way.
	t.DisableCompression = true
	return policy.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries: storageMaxRetries, TryTimeout: try,
			RetryDelay: storageRetryDelay, MaxRetryDelay: storageMaxRetryDelay,
		},
		Transport: &http.Client{Transport: t},
	}
}

// tokenCredential returns the Entra ID credential for storage: the one
// given, or the default Azure credential chain (environment, workload
// identity, managed identity, Azure CLI).
func (p clientSettings) tokenCredential() (azcore.TokenCredential, error) {
	if p.token != nil {
		return p.token, nil
	}
	c, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("storage.credential azuread: %w", err)
	}
	return c, nil
}

// newServiceClient returns a Blob service client that uses the active key,
// or Entra ID with credential azuread.
func newServiceClient(st config.Storage, p clientSettings) (*service.Client, error) {
	if st.Credential == config.CredentialAzureAD {
		cred, err := p.tokenCredential()
		if err != nil {
			return nil, err
		}
		return service.NewClient(st.Endpoint+"/", cred, p.options)
	}
	cred, err := sharedKeyCredential(st)
	if err != nil {
		return nil, err
	}
	return service.NewClientWithSharedKeyCredential(st.Endpoint+"/", cred, p.options)
}

// newQueueServiceClient returns a Queue service client at endpoint (no
// trailing slash) with the credential of the Blob service client: the
// active key, or Entra ID with credential azuread (which then needs the
// Storage Queue Data Contributor role).
func newQueueServiceClient(st config.Storage, endpoint string, p clientSettings) (*azqueue.ServiceClient, error) {
	var opts *azqueue.ClientOptions
	if p.options != nil {
		opts = &azqueue.ClientOptions{ClientOptions: p.options.ClientOptions}
	}
	if st.Credential == config.CredentialAzureAD {
		cred, err := p.tokenCredential()
		if err != nil {
			return nil, err
		}
		return azqueue.NewServiceClient(endpoint+"/", cred, opts)
	}
	cred, err := azqueue.NewSharedKeyCredential(st.Account, st.AccountKey())
	if err != nil {
		return nil, err
	}
	return azqueue.NewServiceClientWithSharedKeyCredential(endpoint+"/", cred, opts)
}

// sharedKeyCredential returns the credential of the active key.
func sharedKeyCredential(st config.Storage) (*azblob.SharedKeyCredential, error) {
	return azblob.NewSharedKeyCredential(st.Account, st.AccountKey())
}

// noRetries returns p with the SDK's retries turned off.
func noRetries(p clientSettings) clientSettings {
	o := service.ClientOptions{}
	if p.options != nil {
		o = *p.options
	}
	o.Retry.MaxRetries = -1
	p.options = &o
	return p
}

// eventQueues returns the events queue and its dead-letter queue, once
// both are found in the storage account, or in SQS (events_sqs.go).
func eventQueues(ctx context.Context, st config.Storage, ev *config.Events, p clientSettings, budget time.Duration, check bool) (*eventsQueues, error) {
	if ev.SQS != nil {
		return sqsEventQueues(ctx, ev.SQS, ev.MaxAttempts, budget, check)
	}
	svc, err := newQueueServiceClient(st, ev.Endpoint, p)
	if err != nil {
		return nil, fmt.Errorf("queue client: %w", err)
	}
	queues, err := azurequeue.NewQueues(svc, ev.Queue)
	if err != nil {
		return nil, fmt.Errorf("webhook.queue: %w", err)
	}
	eq := &eventsQueues{Queues: queues.Queues, check: func(ctx context.Context) error {
		return azstore.Wrap(queues.Check(ctx, st.Account))
	}}
	if !check {
		return eq, nil
	}
	cctx, cancel := within(ctx, startCheckTimeout)
	defer cancel()
	if err := queues.Check(cctx, st.Account); err != nil {
		return nil, fmt.Errorf("webhook events: %w", azstore.Wrap(err))
	}
	return eq, nil
}
