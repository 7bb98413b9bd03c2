package config

import (
	"encoding/base64"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// DefaultQueueEndpoint returns the Queue service URL of an Azure storage
// account: https://ACCOUNT.queue.core.windows.net.
func DefaultQueueEndpoint(account string) string {
	return "https://" + account + ".queue.core.windows.net"
}

// NewQueueServiceClient returns a Queue service client at endpoint (no
// trailing slash) with the credential of the Blob service client: the
// active key, or Entra ID with credential azuread (which then needs the
// Storage Queue Data Contributor role).
func (s *Storage) NewQueueServiceClient(endpoint string) (*azqueue.ServiceClient, error) {
	var opts *azqueue.ClientOptions
	if s.clientOpts != nil {
		opts = &azqueue.ClientOptions{ClientOptions: s.clientOpts.ClientOptions}
	}
	if s.Credential == CredentialAzureAD {
		cred := s.token
		if cred == nil {
			c, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				return nil, fmt.Errorf("storage.credential azuread: %w", err)
			}
			cred = c
		}
		return azqueue.NewServiceClient(endpoint+"/", cred, opts)
	}
	cred, err := azqueue.NewSharedKeyCredential(s.Account, base64.StdEncoding.EncodeToString(s.key))
	if err != nil {
		return nil, err
	}
	return azqueue.NewServiceClientWithSharedKeyCredential(endpoint+"/", cred, opts)
}
