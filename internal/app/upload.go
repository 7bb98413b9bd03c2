package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/success"
	"github.com/blobvalet/blobvalet/traditional"
)

var (
	_ server.Traditional = (*traditional.Service)(nil)
	_ traditional.Store  = azblob.Blocks{}
)

// uploadResponseTimeout is how long storage may take to answer a Put Block
// once the last byte of the chunk is sent.
const uploadResponseTimeout = time.Minute

// streamingOptions are the options of the traditional endpoint's storage
// client: a chunk is the browser's request, streamed once, so the client
// never retries (its body cannot be sent again) and never cuts a try
// short (it lasts as long as the browser's upload). A caller's options
// (tests, embedding) keep their transport.
func streamingOptions(given *service.ClientOptions) *service.ClientOptions {
	o := service.ClientOptions{}
	if given != nil {
		o = *given
	}
	o.Retry = policy.RetryOptions{MaxRetries: -1}
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = uploadResponseTimeout
		t.DisableCompression = true
		o.Transport = &http.Client{Transport: t}
	}
	return &o
}

// newUploads builds Fine Uploader's traditional endpoint for cfg; nil when
// it is off.
func newUploads(cfg *config.Config, d deps, given *service.ClientOptions, area staging.Area, checker *success.Checker) (*traditional.Service, error) {
	u := cfg.Upload
	if !u.Enabled {
		return nil, nil
	}
	name, err := traditional.ParseTemplate(u.Name)
	if err != nil {
		return nil, fmt.Errorf("upload.name: %w", err)
	}
	client, err := newServiceClient(cfg.Storage, clientSettings{token: d.clients.token, options: streamingOptions(given)})
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	return &traditional.Service{
		Store:          azblob.Blocks{Client: client},
		Policy:         cfg.Policy(),
		Staging:        area,
		Checker:        checker,
		Container:      u.Container,
		Name:           name,
		MaxChunk:       int64(u.MaxChunk),
		DefaultMaxSize: int64(cfg.Success.DefaultMaxSize),
		Slots:          traditional.NewSlots(u.MaxInFlight, u.PerUser),
		CheckTimeout:   cfg.Success.Timeout.Duration(),
		Hook:           d.uploadHook,
	}, nil
}

// uploadTimeouts are the deadlines of /upload's requests.
func uploadTimeouts(u config.Upload) server.TraditionalTimeouts {
	return server.TraditionalTimeouts{Idle: u.IdleTimeout.Duration(), Body: u.ChunkDeadline()}
}

// UploadHook is called with each part of a traditional upload before it is
// stored (traditional.Service.Hook); for tests.
type UploadHook = func(ctx context.Context, p traditional.Part) error
