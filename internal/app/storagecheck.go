package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/errs"
)

// How storage is checked: at start (tried again until startCheckTimeout
// while it cannot be reached), at reload (once), and in the background for
// readiness (every readyEvery, each try within probeTimeout, so that a
// probe never waits for storage).
const (
	startCheckTimeout  = 15 * time.Second
	reloadCheckTimeout = 5 * time.Second
	checkRetryEvery    = time.Second
	readyEvery         = 5 * time.Second
	probeTimeout       = 3 * time.Second
)

// unreachableError is a storage check that could not reach storage, as
// opposed to one that storage answered with a refusal: a reload applies
// authentication and rules despite it, and checks again in the background.
type unreachableError struct{ error }

func (e unreachableError) Unwrap() error { return e.error }

// isUnreachable reports whether err says storage could not be reached.
func isUnreachable(err error) bool {
	var u unreachableError
	return errors.As(err, &u)
}

// unreachable classifies err from a storage call made within ctx
// (azblob.Classify): no answer, or none in time, becomes an
// unreachableError that names the real cause; anything else is nil.
func unreachable(ctx context.Context, st config.Storage, err error) error {
	var oe *net.OpError
	switch c := azblob.Classify(err); {
	case err == nil:
		return nil
	case c == blobstore.Unreachable && errors.As(err, &oe):
		return unreachableError{fmt.Errorf("storage endpoint %s cannot be reached: %w", st.Endpoint, oe)}
	case ctx.Err() != nil:
		return unreachableError{fmt.Errorf("storage endpoint %s did not answer: %w", st.Endpoint, context.Cause(ctx))}
	case c == blobstore.Unreachable:
		return unreachableError{fmt.Errorf("storage endpoint %s cannot be reached: %s", st.Endpoint, errs.FirstLine(err))}
	case c == blobstore.Slow:
		return unreachableError{fmt.Errorf("storage endpoint %s did not answer: %s", st.Endpoint, errs.FirstLine(err))}
	}
	return nil
}

// within returns ctx with a timeout whose cause says how long storage had.
func within(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("no answer within %v", d))
}

// checkStorage makes sure the account answers, the key is right, every
// container the rules name exists, and the staging container exists and is
// private, and says what to fix when not.
func checkStorage(ctx context.Context, client *service.Client, st config.Storage, containers []string, stagingContainer string) error {
	if _, err := client.GetProperties(ctx, nil); err != nil {
		if u := unreachable(ctx, st, err); u != nil {
			return fmt.Errorf("%w: check storage.endpoint and the network", u)
		}
		if azblob.Classify(err) == blobstore.Refused {
			if st.Credential == config.CredentialAzureAD {
				return fmt.Errorf("storage account %s at %s refused blobvalet's Entra ID identity: grant it the Storage Blob Data Contributor role (%w)", st.Account, st.Endpoint, azblob.Wrap(err))
			}
			return fmt.Errorf("storage account %s at %s refused the key %q: check that it is the account's current key (%w)", st.Account, st.Endpoint, st.KeyName(), azblob.Wrap(err))
		}
		return fmt.Errorf("storage account %s at %s: %w", st.Account, st.Endpoint, azblob.Wrap(err))
	}
	for _, c := range containers {
		_, err := client.NewContainerClient(c).GetProperties(ctx, nil)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return fmt.Errorf("container %q, named by a rule, does not exist in storage account %s: create it (az storage container create --account-name %s --name %s) or fix the rule", c, st.Account, st.Account, c)
		}
		if u := unreachable(ctx, st, err); u != nil {
			return u
		}
		if err != nil {
			return fmt.Errorf("container %q: %w", c, azblob.Wrap(err))
		}
	}
	props, err := client.NewContainerClient(stagingContainer).GetProperties(ctx, nil)
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return fmt.Errorf("staging container %q does not exist in storage account %s: create it without public access (az storage container create --account-name %s --name %s)", stagingContainer, st.Account, st.Account, stagingContainer)
	case err != nil && unreachable(ctx, st, err) != nil:
		return unreachable(ctx, st, err)
	case err != nil:
		return fmt.Errorf("staging container %q: %w", stagingContainer, azblob.Wrap(err))
	case props.BlobPublicAccess != nil && *props.BlobPublicAccess != "":
		return fmt.Errorf("staging container %q allows public access (%s): unverified uploads must never be readable; make it private (az storage container set-permission --account-name %s --name %s --public-access off)", stagingContainer, *props.BlobPublicAccess, st.Account, stagingContainer)
	}
	return nil
}

// checkUntil runs check until it passes, storage refuses, or timeout ends
// while storage cannot be reached; it returns the last real cause.
func checkUntil(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := within(ctx, timeout)
	defer cancel()
	var last error
	for {
		err := check(ctx)
		if !isUnreachable(err) {
			return err
		}
		if last == nil || ctx.Err() == nil {
			last = err // a try cut by the deadline says less than the one before
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(checkRetryEvery):
		}
	}
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
	if ev := cfg.Events(); ev != nil && ev.SQS != nil {
		if _, err := sqsEventQueues(ctx, ev.SQS, ev.MaxAttempts, cfg.Success.Timeout.Duration(), true); err != nil {
			problems = append(problems, err)
		}
	}
	return problems
}

func checkStorageAndSigner(ctx context.Context, cfg *config.Config) error {
	if cfg.Storage.IsS3() {
		_, err := CheckS3(ctx, cfg)
		return err
	}
	client, err := newServiceClient(cfg.Storage, clientSettings{})
	if err != nil {
		return fmt.Errorf("storage client: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	if err := checkStorage(cctx, client, cfg.Storage, cfg.Policy().Containers(), cfg.Staging.Container); err != nil {
		return err
	}
	signer, _, err := newSigner(cctx, cfg, client, func(string, error) {}) // closed at once: no renewals
	if err != nil {
		return err
	}
	if c, ok := signer.(io.Closer); ok {
		c.Close()
	}
	return nil
}
