package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/errs"
)

// checkStorage makes sure the account answers, the key is right, every
// container the rules name exists, and the staging container exists and is
// private, and says what to fix when not.
func checkStorage(ctx context.Context, client *service.Client, st config.Storage, containers []string, stagingContainer string) error {
	if _, err := client.GetProperties(ctx, nil); err != nil {
		var re *azcore.ResponseError
		switch {
		case errors.As(err, &re) && re.StatusCode == http.StatusForbidden:
			if st.Credential == config.CredentialAzureAD {
				return fmt.Errorf("storage account %s at %s refused blobvalet's Entra ID identity: grant it the Storage Blob Data Contributor role (%s)", st.Account, st.Endpoint, errs.FirstLine(err))
			}
			return fmt.Errorf("storage account %s at %s refused the key %q: check that it is the account's current key", st.Account, st.Endpoint, st.KeyName())
		case ctx.Err() != nil || isNetError(err):
			return fmt.Errorf("storage endpoint %s did not answer: check storage.endpoint and the network (%v)", st.Endpoint, errs.FirstLine(err))
		}
		return fmt.Errorf("storage account %s at %s: %v", st.Account, st.Endpoint, errs.FirstLine(err))
	}
	for _, c := range containers {
		_, err := client.NewContainerClient(c).GetProperties(ctx, nil)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return fmt.Errorf("container %q, named by a rule, does not exist in storage account %s: create it (az storage container create --account-name %s --name %s) or fix the rule", c, st.Account, st.Account, c)
		}
		if err != nil {
			return fmt.Errorf("container %q: %v", c, errs.FirstLine(err))
		}
	}
	props, err := client.NewContainerClient(stagingContainer).GetProperties(ctx, nil)
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound):
		return fmt.Errorf("staging container %q does not exist in storage account %s: create it without public access (az storage container create --account-name %s --name %s)", stagingContainer, st.Account, st.Account, stagingContainer)
	case err != nil:
		return fmt.Errorf("staging container %q: %v", stagingContainer, errs.FirstLine(err))
	case props.BlobPublicAccess != nil && *props.BlobPublicAccess != "":
		return fmt.Errorf("staging container %q allows public access (%s): unverified uploads must never be readable; make it private (az storage container set-permission --account-name %s --name %s --public-access off)", stagingContainer, *props.BlobPublicAccess, st.Account, stagingContainer)
	}
	return nil
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// readiness returns a check that storage still answers, cached for a few
// seconds so that probes do not load the account.
func readiness(client *service.Client) func(context.Context) error {
	const ttl = 5 * time.Second
	var (
		mu      sync.Mutex
		checked time.Time
		last    error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(checked) < ttl {
			return last
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := client.GetProperties(cctx, nil)
		last, checked = nil, time.Now()
		if err != nil {
			last = fmt.Errorf("storage does not answer: %s", errs.FirstLine(err))
		}
		return last
	}
}
