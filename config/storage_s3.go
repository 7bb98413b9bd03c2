package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// S3 addressing styles and canned ACLs.
const (
	AddressingVirtual = "virtual"
	AddressingPath    = "path"

	ACLPrivate                = "private"
	ACLBucketOwnerFullControl = "bucket-owner-full-control"
)

// S3Credential names where an S3 access key is kept: its id and its secret
// each in an environment variable or a file, never in the configuration.
type S3Credential struct {
	// AccessKeyIDEnv names the environment variable holding the access key
	// id.
	AccessKeyIDEnv string `yaml:"access_key_id_env"`
	// AccessKeyIDFile names a file holding the access key id.
	AccessKeyIDFile string `yaml:"access_key_id_file"`
	// SecretAccessKeyEnv names the environment variable holding the secret
	// access key.
	SecretAccessKeyEnv string `yaml:"secret_access_key_env"`
	// SecretAccessKeyFile names a file holding the secret access key.
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
	// SessionTokenEnv names the environment variable holding the session
	// token of temporary credentials; service only.
	SessionTokenEnv string `yaml:"session_token_env"`
	// SessionTokenFile names a file holding the session token; service
	// only.
	SessionTokenFile string `yaml:"session_token_file"`
}

// S3Keys is an S3 credential as read at load time.
type S3Keys struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken goes with temporary credentials; "" for a long-lived key.
	SessionToken string
}

// String names the key by the last four characters of its id, as AWS's
// console does, and never shows the secret or the token.
func (k S3Keys) String() string {
	id := k.AccessKeyID
	if len(id) > 4 {
		id = "…" + id[len(id)-4:]
	}
	return "access key " + id
}

// GoString is String, so that %#v shows no secret either.
func (k S3Keys) GoString() string { return k.String() }

// S3Signer returns the key that signs the browsers' requests (kind s3).
func (s *Storage) S3Signer() S3Keys { return derefKeys(s.signer) }

// S3Service returns the credential blobvalet's own S3 calls use (kind s3).
func (s *Storage) S3Service() S3Keys { return derefKeys(s.service) }

func derefKeys(k *S3Keys) S3Keys {
	if k == nil {
		return S3Keys{}
	}
	return *k
}

// PathStyle reports whether S3 buckets are addressed by path rather than
// by host name.
func (s *Storage) PathStyle() bool { return s.Addressing == AddressingPath }

// BucketHost returns the host (with its port, if any) that browsers send
// requests for bucket to, and sign: BUCKET.HOST with virtual addressing,
// the endpoint's host with path addressing.
func (s *Storage) BucketHost(bucket string) string {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return ""
	}
	if s.PathStyle() {
		return u.Host
	}
	return bucket + "." + u.Host
}

// BucketURL returns the URL of bucket that browsers upload to, with no
// trailing slash: scheme://BUCKET.HOST or scheme://HOST/BUCKET.
func (s *Storage) BucketURL(bucket string) string {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return ""
	}
	if s.PathStyle() {
		return u.Scheme + "://" + u.Host + "/" + bucket
	}
	return u.Scheme + "://" + bucket + "." + u.Host
}

var (
	s3Region   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// completeS3 checks and completes the fields of kind s3, and reads its two
// credentials.
func (s *Storage) completeS3(p *problems, getenv func(string) string) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"account", s.Account != ""}, {"queue_endpoint", s.QueueEndpoint != ""},
		{"key_env", s.KeyEnv != ""}, {"key_file", s.KeyFile != ""}, {"keys", len(s.Keys) > 0},
		{"credential", s.Credential != ""}, {"emulator_compat", s.EmulatorCompat != nil},
	} {
		if f.set {
			p.add("storage."+f.name, "is for Azure storage; with kind s3 set region, endpoint, addressing, acl, signer and service instead, and remove this line")
		}
	}
	switch {
	case s.Region == "":
		p.add("storage.region", "required with kind s3: the region requests are signed for, such as eu-west-1 (us-east-1 where the service has no regions)")
	case !s3Region.MatchString(s.Region):
		p.add("storage.region", "%q is not a region name (lowercase letters, digits and hyphens, such as eu-west-1)", s.Region)
	}
	switch s.Addressing {
	case "":
		s.Addressing = AddressingVirtual
	case AddressingVirtual, AddressingPath:
	default:
		p.add("storage.addressing", "want virtual (bucket in the host name; Fine Uploader S3 needs it to upload in chunks) or path, got %q", s.Addressing)
	}
	if s.Endpoint == "" {
		if s.Region != "" {
			s.Endpoint = "https://s3." + s.Region + ".amazonaws.com"
		}
	} else {
		s.Endpoint = strings.TrimSuffix(s.Endpoint, "/")
		if msg := checkS3Endpoint(s.Endpoint); msg != "" {
			p.add("storage.endpoint", "%s", msg)
		} else if h := hostOnly(s.Endpoint); s.Addressing == AddressingVirtual && net.ParseIP(h) != nil {
			p.add("storage.addressing", "virtual puts the bucket in the host name, which the endpoint's %s (an IP address) cannot take: use a host name that resolves with its subdomains (such as localhost), or addressing: path (then Fine Uploader S3 cannot upload in chunks)", h)
		}
	}
	switch s.ACL {
	case "":
		s.ACL = ACLPrivate
	case ACLPrivate, ACLBucketOwnerFullControl:
	default:
		p.add("storage.acl", "want private or bucket-owner-full-control (for buckets whose ACLs are disabled), got %q: uploads wait in staging unverified and must never be readable by others", s.ACL)
	}
	s.signer = readS3Keys(p, "storage.signer", s.Signer, false, getenv,
		"the S3 key that signs the browsers' uploads; give it only s3:PutObject, s3:AbortMultipartUpload and s3:ListMultipartUploadParts on the staging bucket")
	s.service = readS3Keys(p, "storage.service", s.Service, true, getenv,
		"the S3 identity blobvalet acts as: it reads and deletes staging objects and writes the final buckets")
	s.keyName = s.S3Service().String()
}

// readS3Keys reads the credential c names; nil with a problem if it cannot.
func readS3Keys(p *problems, field string, c *S3Credential, token bool, getenv func(string) string, what string) *S3Keys {
	if c == nil {
		p.add(field, "required with kind s3: %s, e.g. {access_key_id_env: NAME, secret_access_key_env: NAME}", what)
		return nil
	}
	ok := true
	id, err := readSecret(c.AccessKeyIDEnv, c.AccessKeyIDFile, getenv)
	if err != nil {
		p.add(field, "access key id: %v", strings.ReplaceAll(err.Error(), "(…_env) or a file (…_file)", "(access_key_id_env) or a file (access_key_id_file)"))
		ok = false
	} else if strings.ContainsAny(id, " \t\r\n/") {
		p.add(field, "the access key id in %s is not one: it has spaces or slashes", secretSource(c.AccessKeyIDEnv, c.AccessKeyIDFile))
		ok = false
	}
	secret, err := readSecret(c.SecretAccessKeyEnv, c.SecretAccessKeyFile, getenv)
	if err != nil {
		p.add(field, "secret access key: %v", strings.ReplaceAll(err.Error(), "(…_env) or a file (…_file)", "(secret_access_key_env) or a file (secret_access_key_file)"))
		ok = false
	}
	k := &S3Keys{AccessKeyID: id, SecretAccessKey: secret}
	if c.SessionTokenEnv != "" || c.SessionTokenFile != "" {
		if !token {
			p.add(field, "takes no session token: Fine Uploader S3 cannot send one with the requests blobvalet signs; use a long-lived key that IAM confines to the staging bucket")
			return nil
		}
		if k.SessionToken, err = readSecret(c.SessionTokenEnv, c.SessionTokenFile, getenv); err != nil {
			p.add(field, "session token: %v", err)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return k
}

// checkS3Endpoint says what is wrong with an S3 endpoint, or "".
func checkS3Endpoint(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Sprintf("want the S3 service URL such as https://s3.eu-west-1.amazonaws.com, got %q", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Sprintf("%q must have no query, fragment or user info (a key never goes here)", s)
	case u.Path != "":
		return fmt.Sprintf("%q must have no path: buckets are addressed by storage.addressing", s)
	case u.Scheme == "http" && !IsLoopback(s):
		return fmt.Sprintf("%q uses http; only a loopback emulator may, use https", s)
	}
	return ""
}

func hostOnly(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// refuseS3Fields names each field of kind s3 set on Azure storage.
func (s *Storage) refuseS3Fields(p *problems) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"region", s.Region != ""}, {"addressing", s.Addressing != ""}, {"acl", s.ACL != ""},
		{"signer", s.Signer != nil}, {"service", s.Service != nil},
	} {
		if f.set {
			p.add("storage."+f.name, "is for S3 storage: set storage.kind: s3, or remove this line for Azure")
		}
	}
}

// checkContainerName says what is wrong with the name of a container (an
// S3 bucket with kind s3), or "".
func (s *Storage) checkContainerName(name string) string {
	if !s.IsS3() {
		if !containerName.MatchString(name) || strings.Contains(name, "--") {
			return fmt.Sprintf("%q is not a container name (3-63 lowercase letters, digits and single hyphens)", name)
		}
		return ""
	}
	switch {
	case !bucketName.MatchString(name) || strings.Contains(name, ".."):
		return fmt.Sprintf("%q is not a bucket name (3-63 lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit)", name)
	case net.ParseIP(name) != nil:
		return fmt.Sprintf("%q is an IP address, not a bucket name", name)
	case strings.Contains(name, ".") && s.Addressing == AddressingVirtual && strings.HasPrefix(s.Endpoint, "https://"):
		return fmt.Sprintf("%q has dots, which break HTTPS with virtual addressing (the certificate covers one label before the endpoint's host): choose a name without dots, or addressing: path", name)
	}
	return ""
}

// containerField is the field a rule or staging names its container with:
// container, or bucket (its S3 spelling).
func containerField(prefix, container, bucket string) string {
	if bucket != "" && container == "" {
		return prefix + ".bucket"
	}
	return prefix + ".container"
}

// resolveBucket turns the S3 spelling bucket into container, or says why
// it cannot.
func (s *Storage) resolveBucket(p *problems, prefix string, container, bucket *string) {
	switch {
	case *bucket == "":
	case !s.IsS3():
		p.add(prefix+".bucket", "is the S3 spelling of container: with Azure storage write container: %s", *bucket)
	case *container != "":
		p.add(prefix+".bucket", "set container or bucket (its S3 spelling), not both")
	default:
		*container = *bucket
	}
}

// completeS3Deployment refuses what an S3 deployment cannot run yet.
func (c *Config) completeS3Deployment(p *problems) {
	if !c.Storage.IsS3() {
		return
	}
	if c.Upload.Enabled {
		p.add("upload.enabled", "Fine Uploader's traditional endpoint stores chunks as Azure blocks; it is not available with storage.kind s3: remove upload, or use Fine Uploader S3 or Uppy against the staging bucket")
	}
	if c.hasWebhook() && !c.EventsQueue.IsSQS() {
		field := "webhook"
		if c.Webhook == nil {
			for i, r := range c.Rules {
				if r.Webhook != nil {
					field = fmt.Sprintf("rules[%d].webhook", i)
					break
				}
			}
		}
		p.add(field, "with storage.kind s3, webhook events wait in Amazon SQS: set events.kind sqs and events.queue_url (see docs/webhooks.md), or remove the webhook")
	}
}
