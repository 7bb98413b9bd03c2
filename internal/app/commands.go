package app

import (
	"context"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/config"
)

// The service's clients and checks, for the commands that do one job and
// exit (check, sweep, cors, events).

// NewServiceClient returns a Blob service client for st with the SDK's
// default options: the active key, or Entra ID with credential azuread.
func NewServiceClient(st config.Storage) (*service.Client, error) {
	return newServiceClient(st, storageParts{})
}

// NewQueueServiceClient returns a Queue service client at endpoint (no
// trailing slash) with the credential of the Blob service client.
func NewQueueServiceClient(st config.Storage, endpoint string) (*azqueue.ServiceClient, error) {
	return newQueueServiceClient(st, endpoint, storageParts{})
}

// CheckStorage runs serve's start-up storage checks of cfg with client,
// once, within the start-up check's time.
func CheckStorage(ctx context.Context, client *service.Client, cfg *config.Config) error {
	cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	return checkStorage(cctx, client, cfg.Storage, cfg.Policy().Containers(), cfg.Staging.Container)
}

// CheckOnline asks storage and the identity provider what serve asks at
// start, and returns every problem: storage and the identity provider are
// checked independently.
func CheckOnline(ctx context.Context, cfg *config.Config) []error {
	var problems []error
	if err := checkStorageAndSigner(ctx, cfg); err != nil {
		problems = append(problems, err)
	}
	if cfg.Auth.JWT != nil {
		if _, err := authn.New(ctx, authnOptions(cfg.Auth)); err != nil {
			problems = append(problems, err)
		}
	}
	return problems
}

func checkStorageAndSigner(ctx context.Context, cfg *config.Config) error {
	client, err := newServiceClient(cfg.Storage, storageParts{})
	if err != nil {
		return fmt.Errorf("storage client: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	if err := checkStorage(cctx, client, cfg.Storage, cfg.Policy().Containers(), cfg.Staging.Container); err != nil {
		return err
	}
	signer, _, err := newSigner(cctx, cfg, client)
	if err != nil {
		return err
	}
	if c, ok := signer.(io.Closer); ok {
		c.Close()
	}
	return nil
}
