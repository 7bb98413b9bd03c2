package corscfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/blobvalet/blobvalet/errs"
)

// Get reads the Blob service's CORS rules.
func Get(ctx context.Context, c *service.Client) ([]Rule, error) {
	props, err := c.GetProperties(ctx, nil)
	if err != nil {
		return nil, storageError("read the service properties", err)
	}
	rules := make([]Rule, 0, len(props.CORS))
	for _, r := range props.CORS {
		rules = append(rules, Rule{
			AllowedOrigins:  split(r.AllowedOrigins),
			AllowedMethods:  split(r.AllowedMethods),
			AllowedHeaders:  split(r.AllowedHeaders),
			ExposedHeaders:  split(r.ExposedHeaders),
			MaxAgeInSeconds: deref(r.MaxAgeInSeconds),
		})
	}
	return rules, nil
}

// Set writes the CORS rules and nothing else: logging, metrics and the other
// service properties stay as they are.
func Set(ctx context.Context, c *service.Client, rules []Rule) error {
	cors := make([]*service.CORSRule, 0, len(rules))
	for _, r := range rules {
		cors = append(cors, &service.CORSRule{
			AllowedOrigins:  to.Ptr(strings.Join(r.AllowedOrigins, ",")),
			AllowedMethods:  to.Ptr(strings.Join(r.AllowedMethods, ",")),
			AllowedHeaders:  to.Ptr(strings.Join(r.AllowedHeaders, ",")),
			ExposedHeaders:  to.Ptr(strings.Join(r.ExposedHeaders, ",")),
			MaxAgeInSeconds: to.Ptr(r.MaxAgeInSeconds),
		})
	}
	if _, err := c.SetProperties(ctx, &service.SetPropertiesOptions{CORS: cors}); err != nil {
		return storageError("write the CORS rules", err)
	}
	return nil
}

// Apply plans the desired rule against the account's current rules and
// writes the result if anything changes.
func Apply(ctx context.Context, c *service.Client, d Desired) (Result, error) {
	current, err := Get(ctx, c)
	if err != nil {
		return Result{}, err
	}
	res, err := Plan(current, d)
	if err != nil || !res.Changed() {
		return res, err
	}
	return res, Set(ctx, c, res.After)
}

func split(p *string) []string {
	if p == nil || strings.TrimSpace(*p) == "" {
		return []string{}
	}
	var out []string
	for s := range strings.SplitSeq(*p, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// storageError says what failed, with the storage service's status and
// error code, and what to check: the SDK's own error is a dump of the HTTP
// exchange that starts with a URL.
func storageError(what string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		msg := fmt.Sprintf("cannot %s: the storage service answered %d %s", what, re.StatusCode, re.ErrorCode)
		switch {
		case re.ErrorCode == "AuthenticationFailed" || re.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("%s; check that the account key (storage.key_env, key_file or keys in --config, or AccountKey in the connection string) is the account's current key", msg)
		case re.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%s; check that the credential may read and write the account's service properties (an account key may; an Entra ID identity needs a role that allows it, such as Storage Account Contributor)", msg)
		case re.StatusCode == http.StatusNotFound || re.StatusCode == http.StatusBadRequest:
			return fmt.Errorf("%s; check the account name and endpoint (storage.account and storage.endpoint, or the connection string's AccountName and BlobEndpoint)", msg)
		}
		return errors.New(msg)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("cannot %s: the storage endpoint did not answer; check the endpoint (storage.endpoint, or BlobEndpoint in the connection string) and the network (%s)", what, errs.FirstLine(err))
	}
	return fmt.Errorf("cannot %s: %s", what, errs.FirstLine(err))
}
