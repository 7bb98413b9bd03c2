package config

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Storage says which storage service holds the uploads and how blobvalet
// reaches it: an Azure storage account (kind azure, the default) or an
// S3-compatible service (kind s3). Each kind has fields of its own; a field
// of the other kind is refused.
type Storage struct {
	// Kind is azure (the default) or s3.
	Kind string `yaml:"kind"`
	// Account is the storage account name.
	Account string `yaml:"account"`
	// Endpoint is the Blob service URL: https://ACCOUNT.blob.core.windows.net,
	// or http://127.0.0.1:10000/devstoreaccount1 for Azurite. With kind s3,
	// the S3 service URL, https://s3.REGION.amazonaws.com by default.
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

	// Region is the region S3 requests are signed for; required with kind
	// s3, even where the service has only one.
	Region string `yaml:"region"`
	// Addressing is how S3 buckets are addressed: virtual (the default,
	// https://BUCKET.ENDPOINT-HOST/KEY) or path (https://ENDPOINT-HOST/BUCKET/KEY).
	// Fine Uploader S3 uploads in chunks only with virtual.
	Addressing string `yaml:"addressing"`
	// ACL is the canned ACL browsers upload with, which the signer requires
	// exactly: private (the default) or bucket-owner-full-control (for
	// buckets whose ACLs are disabled, AWS's default for new buckets).
	ACL string `yaml:"acl"`
	// Signer is the S3 key that signs the browsers' requests: it should be
	// allowed to write the staging bucket and nothing else. Kind s3 only.
	Signer *S3Credential `yaml:"signer"`
	// Service is the S3 identity blobvalet itself acts as: it reads and
	// deletes staging objects and writes the final buckets. Kind s3 only.
	Service *S3Credential `yaml:"service"`

	keyName string
	key     []byte
	// The S3 credentials, behind pointers so that printing the struct
	// (%+v) shows addresses, not secrets.
	signer  *S3Keys
	service *S3Keys
}

// Storage kinds.
const (
	KindAzure = "azure"
	KindS3    = "s3"
)

// IsS3 reports whether uploads are stored on an S3-compatible service.
func (s *Storage) IsS3() bool { return s.Kind == KindS3 }

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
	switch s.Kind {
	case "", KindAzure:
		s.Kind = KindAzure
		s.refuseS3Fields(p)
	case KindS3:
		s.completeS3(p, getenv)
		return
	default:
		p.add("storage.kind", "want azure or s3, got %q", s.Kind)
		return
	}
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
