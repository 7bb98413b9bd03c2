package sas

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	azsas "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
)

// Defaults for user delegation keys. Azure allows keys of up to seven days.
const (
	DefaultKeyLifetime = 24 * time.Hour
	DefaultRenewBefore = 6 * time.Hour
)

// KeySource fetches a user delegation key valid from start to expiry.
type KeySource interface {
	GetUserDelegationCredential(ctx context.Context, info service.KeyInfo, o *service.GetUserDelegationCredentialOptions) (*service.UserDelegationCredential, error)
}

// DelegationSigner signs user delegation SAS URIs: no account key exists on
// the server. It holds one delegation key at a time and renews it in the
// background well before it expires, so no request waits for a key and no
// SAS outlives the key that signed it.
type DelegationSigner struct {
	resolver    *blobref.Resolver
	source      KeySource
	protocol    azsas.Protocol
	now         func() time.Time
	keyLifetime time.Duration
	renewBefore time.Duration

	// Failed, if set before Start, hears of each renewal that fails in the
	// background, to log and count it.
	Failed func(error)

	stop context.CancelFunc

	mu      sync.RWMutex
	key     *service.UserDelegationCredential
	keyExp  time.Time
	lastErr error
	fetches int
}

// NewDelegationSigner returns a signer that gets its keys from source
// (a service.Client authenticated with Entra ID). Call Start to fetch the
// first key and keep it fresh, and Close to stop.
func NewDelegationSigner(resolver *blobref.Resolver, source KeySource, allowHTTP bool, now func() time.Time, keyLifetime, renewBefore time.Duration) *DelegationSigner {
	p := azsas.ProtocolHTTPS
	if allowHTTP {
		p = azsas.ProtocolHTTPSandHTTP
	}
	if now == nil {
		now = time.Now //nolint:forbidigo // the default clock
	}
	return &DelegationSigner{resolver: resolver, source: source, protocol: p, now: now, keyLifetime: keyLifetime, renewBefore: renewBefore}
}

// Renew fetches a new key now.
func (d *DelegationSigner) Renew(ctx context.Context) error {
	start := d.now().Add(-5 * time.Minute).UTC()
	exp := d.now().Add(d.keyLifetime).UTC()
	key, err := d.source.GetUserDelegationCredential(ctx, service.KeyInfo{
		Start:  to.Ptr(start.Format(azsas.TimeFormat)),
		Expiry: to.Ptr(exp.Format(azsas.TimeFormat)),
	}, nil)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fetches++
	if err != nil {
		d.lastErr = fmt.Errorf("user delegation key: %w", err)
		return d.lastErr
	}
	d.key, d.keyExp, d.lastErr = key, exp, nil
	return nil
}

// Run renews the key whenever it is within renewBefore of its expiry, until
// ctx is done; a renewal that fails is tried again at the next tick. tick is
// how often it looks; a minute is plenty.
func (d *DelegationSigner) Run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if d.needsRenewal() {
			if err := d.Renew(ctx); err != nil && d.Failed != nil && ctx.Err() == nil {
				d.Failed(err) // also kept for Ready, and retried at the next tick
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *DelegationSigner) needsRenewal() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.key == nil || d.now().After(d.keyExp.Add(-d.renewBefore))
}

// Start fetches the first key, failing if it cannot, then keeps the key
// fresh in the background until Close.
func (d *DelegationSigner) Start(ctx context.Context) error {
	if err := d.Renew(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stop = cancel
	go d.Run(runCtx, time.Minute)
	return nil
}

// Close stops the background renewal.
func (d *DelegationSigner) Close() error {
	if d.stop != nil {
		d.stop()
	}
	return nil
}

// Ready reports whether a key is held, and why not.
func (d *DelegationSigner) Ready() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	switch {
	case d.key != nil && d.now().Before(d.keyExp):
		return nil
	case d.lastErr != nil:
		return d.lastErr
	}
	return errors.New("no user delegation key yet")
}

// Fetches returns how many keys were asked for.
func (d *DelegationSigner) Fetches() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.fetches
}

// Sign returns "<blob URL>?<SAS query>" granting access to ref until expiry,
// or until the key expires if that is sooner.
func (d *DelegationSigner) Sign(ref blobref.Ref, access blobstore.Access, expiry time.Time) (string, error) {
	d.mu.RLock()
	key, keyExp := d.key, d.keyExp
	d.mu.RUnlock()
	if key == nil || !d.now().Before(keyExp) {
		return "", errors.New("sas: no valid user delegation key")
	}
	if expiry.After(keyExp) {
		expiry = keyExp
	}
	q, err := azsas.BlobSignatureValues{
		Protocol:      d.protocol,
		ExpiryTime:    expiry.UTC(),
		Permissions:   permissions(access),
		ContainerName: ref.Container,
		BlobName:      string(ref.Name),
	}.SignWithUserDelegation(key)
	if err != nil {
		return "", fmt.Errorf("sas: sign %s: %w", ref, err)
	}
	return d.resolver.URL(ref) + "?" + q.Encode(), nil
}
