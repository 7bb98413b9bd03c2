package config

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Storage names the storage account and its credential.
type Storage struct {
	// Account is the storage account name.
	Account string `yaml:"account"`
	// Endpoint is the Blob service URL: https://ACCOUNT.blob.core.windows.net,
	// or http://127.0.0.1:10000/devstoreaccount1 for Azurite.
	Endpoint string `yaml:"endpoint"`
	// QueueEndpoint is the Queue service URL, where webhook events wait:
	// https://ACCOUNT.queue.core.windows.net (the default), or
	// http://127.0.0.1:10001/devstoreaccount1 for Azurite.
	QueueEndpoint string `yaml:"queue_endpoint"`
	// KeyEnv names the environment variable holding the shared key.
	KeyEnv string `yaml:"key_env"`
	// KeyFile names a file holding the shared key.
	KeyFile string `yaml:"key_file"`
	// Keys lists several keys for rotation; the one marked active signs.
	Keys []Key `yaml:"keys"`
	// Credential is shared_key (the default: key_env, key_file or keys) or
	// azuread: no key at all; blobvalet authenticates with Microsoft Entra ID
	// (environment, workload identity, managed identity, Azure CLI) and signs
	// user delegation SAS.
	Credential string `yaml:"credential"`
	// EmulatorCompat is gone: overwrite: false is enforced when an upload
	// is promoted, on Azure and Azurite alike. Kept only to say so.
	EmulatorCompat *bool `yaml:"emulator_compat"`

	keyName string
	key     []byte
}

// Credential types.
const (
	CredentialSharedKey = "shared_key"
	CredentialAzureAD   = "azuread"
)

// Key is one shared key of the storage account.
type Key struct {
	// Name identifies the key in logs, e.g. key1.
	Name string `yaml:"name"`
	// Env names the environment variable holding the key.
	Env string `yaml:"env"`
	// File names a file holding the key.
	File string `yaml:"file"`
	// Active marks the key that signs. Exactly one key is active.
	Active bool `yaml:"active"`
}

func (s *Storage) complete(p *problems, getenv func(string) string) {
	if s.Account == "" {
		p.add("storage.account", "required: the storage account name")
	} else if !accountName.MatchString(s.Account) {
		p.add("storage.account", "%q is not a storage account name (3-24 lowercase letters and digits)", s.Account)
	}
	if s.Endpoint == "" {
		if s.Account != "" {
			s.Endpoint = "https://" + s.Account + ".blob.core.windows.net"
		}
	} else {
		s.Endpoint = strings.TrimSuffix(s.Endpoint, "/")
		if err := checkEndpoint(s.Endpoint); err != nil {
			p.add("storage.endpoint", "%v", err)
		}
	}
	s.completeQueueEndpoint(p)
	if s.EmulatorCompat != nil {
		p.add("storage.emulator_compat", "no longer exists: uploads are staged and overwrite: false is enforced when blobvalet promotes them, on Azure and Azurite alike; remove this line")
	}
	switch s.Credential {
	case "", CredentialSharedKey:
		s.Credential = CredentialSharedKey
	case CredentialAzureAD:
		if s.KeyEnv != "" || s.KeyFile != "" || len(s.Keys) > 0 {
			p.add("storage", "credential azuread uses no account key: remove key_env, key_file and keys")
		}
		s.keyName = "user delegation"
		return
	default:
		p.add("storage.credential", "want shared_key or azuread, got %q", s.Credential)
		return
	}
	keys := s.Keys
	if s.KeyEnv != "" || s.KeyFile != "" {
		if len(keys) > 0 {
			p.add("storage.keys", "set either key_env/key_file or keys, not both")
			return
		}
		keys = []Key{{Name: "key", Env: s.KeyEnv, File: s.KeyFile, Active: true}}
	}
	if len(keys) == 0 {
		p.add("storage", "no credential: set key_env (the name of an environment variable holding the account key) or key_file")
		return
	}
	active, before := 0, len(*p)
	for i, k := range keys {
		field := fmt.Sprintf("storage.keys[%d]", i)
		if s.KeyEnv != "" || s.KeyFile != "" {
			field = "storage"
		}
		secret, err := readSecret(k.Env, k.File, getenv)
		if err != nil {
			p.add(field, "%v", err)
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(secret)
		if err != nil || len(raw) == 0 {
			p.add(field, "the key in %s is not base64; use the account key exactly as the portal shows it", secretSource(k.Env, k.File))
			continue
		}
		if k.Active {
			active++
			s.keyName = k.Name
			s.key = raw
		}
	}
	if active != 1 && len(*p) == before {
		p.add("storage.keys", "exactly one key must be active: true, found %d", active)
	}
}

// KeyName returns the name of the key that signs.
func (s *Storage) KeyName() string { return s.keyName }

// AccountKey returns the active shared key in base64, as the portal shows
// it; "" with credential azuread.
func (s *Storage) AccountKey() string {
	if s.key == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(s.key)
}
