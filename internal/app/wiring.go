package app

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/gorilla/mux"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/errs"
	"github.com/blobvalet/blobvalet/events"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/sas"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/success"
)

// The parts that serve wires together, and what they must satisfy.
var (
	_ server.Authenticator  = (*authn.Authenticator)(nil)
	_ server.Signer         = (*sas.SharedKeySigner)(nil)
	_ server.Signer         = (*sas.DelegationSigner)(nil)
	_ server.Stager         = staging.Area{}
	_ server.SuccessChecker = (*success.Checker)(nil)
	_ success.Outbox        = (*events.Outbox)(nil)
)

// limitsOptions turns the limits section into the limiter's options.
func limitsOptions(c config.Limits) limits.Options {
	b := func(r config.RateLimit) limits.Bucket { return limits.Bucket{Rate: rate.Limit(r.Rate), Burst: r.Burst} }
	return limits.Options{
		Routes:          map[limits.Route]limits.Bucket{limits.SAS: b(c.SAS), limits.Success: b(c.Success)},
		Unauthenticated: b(c.Unauthenticated),
		TrustedProxies:  c.Proxies(),
	}
}

// authnOptions turns the auth section into authn's options.
func authnOptions(a config.Auth) authn.Options {
	o := authn.Options{CookieOrigins: a.CookieOrigins()}
	for _, t := range a.Tokens {
		o.Tokens = append(o.Tokens, authn.Token{Secret: t.Secret(), User: authz.User{ID: t.User, Groups: t.Groups}})
	}
	if th := a.TrustedHeader; th != nil {
		o.TrustedHeader = &authn.TrustedHeader{User: th.User, Groups: th.Groups, Proxies: th.Proxies()}
	}
	if j := a.JWT; j != nil {
		o.JWT = &authn.JWTOptions{
			Issuer: j.Issuer, JWKSURL: j.JWKSURL, HS256Secret: j.HS256Secret(), Audience: j.Audience,
			Leeway: j.Leeway.Duration(), UserClaim: j.UserClaim, GroupsClaim: j.GroupsClaim,
			Cookie: j.Cookie, CacheSize: j.CacheSize,
		}
	}
	return o
}

// parts are what a configuration is wired with besides the file itself.
type parts struct {
	log          *zap.Logger
	extra        func(*mux.Router) // further routes, such as the demo page
	now          func() time.Time  // the clock of SAS expiry; nil means time.Now
	metrics      *server.Metrics   // nil makes new ones
	sweepMetrics *staging.Metrics  // nil counts nothing
	// eventsMetrics count stored and delivered webhook events; nil counts
	// nothing.
	eventsMetrics *events.Metrics
	storage       storageParts
	status        *status // what readiness reports; nil makes a new one
	// storagePending: when storage cannot be reached, build the generation
	// anyway, with its storage check pending (a reload during an outage),
	// instead of trying again until startCheckTimeout and failing.
	storagePending bool
	// deliveryBackoff and deliveryPoll replace the deliverer's defaults
	// when set.
	deliveryBackoff func(attempt int) time.Duration
	deliveryPoll    time.Duration
}

// storageParts replace the defaults the storage clients are built with:
// Entra ID's default credential chain and the SDK's client options. For
// tests and embedding.
type storageParts struct {
	token   azcore.TokenCredential
	options *service.ClientOptions
}

// Storage retries for serve. Each try is cut after storageTryTimeout(budget)
// (also the wait for response headers), so that a hung connection costs one
// try, not the request; two retries at most, soon after, so that a request
// whose first try hangs still has a retry inside its budget.
const (
	storageMaxRetries    = 2
	storageRetryDelay    = 200 * time.Millisecond
	storageMaxRetryDelay = time.Second
)

// storageTryTimeout is two fifths of the success budget, at least a second:
// 8 s of the default 20 s.
func storageTryTimeout(budget time.Duration) time.Duration {
	return max(time.Second, budget*2/5)
}

// storageClientOptions are serve's options for the Blob and Queue service
// clients, tuned to the upload-success budget.
func storageClientOptions(budget time.Duration) policy.ClientOptions {
	try := storageTryTimeout(budget)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = try
	return policy.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries: storageMaxRetries, TryTimeout: try,
			RetryDelay: storageRetryDelay, MaxRetryDelay: storageMaxRetryDelay,
		},
		Transport: &http.Client{Transport: t},
	}
}

// tokenCredential returns the Entra ID credential for storage: the one
// given, or the default Azure credential chain (environment, workload
// identity, managed identity, Azure CLI).
func (p storageParts) tokenCredential() (azcore.TokenCredential, error) {
	if p.token != nil {
		return p.token, nil
	}
	c, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("storage.credential azuread: %w", err)
	}
	return c, nil
}

// newServiceClient returns a Blob service client that uses the active key,
// or Entra ID with credential azuread.
func newServiceClient(st config.Storage, p storageParts) (*service.Client, error) {
	if st.Credential == config.CredentialAzureAD {
		cred, err := p.tokenCredential()
		if err != nil {
			return nil, err
		}
		return service.NewClient(st.Endpoint+"/", cred, p.options)
	}
	cred, err := sharedKeyCredential(st)
	if err != nil {
		return nil, err
	}
	return service.NewClientWithSharedKeyCredential(st.Endpoint+"/", cred, p.options)
}

// newQueueServiceClient returns a Queue service client at endpoint (no
// trailing slash) with the credential of the Blob service client: the
// active key, or Entra ID with credential azuread (which then needs the
// Storage Queue Data Contributor role).
func newQueueServiceClient(st config.Storage, endpoint string, p storageParts) (*azqueue.ServiceClient, error) {
	var opts *azqueue.ClientOptions
	if p.options != nil {
		opts = &azqueue.ClientOptions{ClientOptions: p.options.ClientOptions}
	}
	if st.Credential == config.CredentialAzureAD {
		cred, err := p.tokenCredential()
		if err != nil {
			return nil, err
		}
		return azqueue.NewServiceClient(endpoint+"/", cred, opts)
	}
	cred, err := azqueue.NewSharedKeyCredential(st.Account, st.AccountKey())
	if err != nil {
		return nil, err
	}
	return azqueue.NewServiceClientWithSharedKeyCredential(endpoint+"/", cred, opts)
}

// sharedKeyCredential returns the credential of the active key.
func sharedKeyCredential(st config.Storage) (*azblob.SharedKeyCredential, error) {
	return azblob.NewSharedKeyCredential(st.Account, st.AccountKey())
}

// generation is what one configuration runs: the HTTP server, the
// staging sweeper and the delivery of webhook events, and what readiness
// checks.
type generation struct {
	srv     *server.Server
	sweeper *staging.Sweeper
	cfg     *config.Config
	// deliverer posts the events waiting in the queue to this
	// configuration's webhooks; nil when none is configured.
	deliverer *events.Deliverer
	// probe is a client that never retries, so that each check says at
	// once what failed.
	probe *service.Client
	// signing reports whether the signer can sign; nil means always.
	signing func() error
	// pending is set while the storage check at reload could not reach
	// storage; refresh runs it until it passes.
	pending    atomic.Bool
	pendingErr error
}

// newGeneration checks storage and assembles the server and the sweeper.
func newGeneration(ctx context.Context, cfg *config.Config, p parts) (*generation, error) {
	log, extra, metrics, sweepMetrics := p.log, p.extra, p.metrics, p.sweepMetrics
	if p.storage.options == nil {
		p.storage.options = &service.ClientOptions{ClientOptions: storageClientOptions(cfg.Success.Timeout.Duration())}
	}
	client, err := newServiceClient(cfg.Storage, p.storage)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	g := &generation{cfg: cfg}
	if g.probe, err = newServiceClient(cfg.Storage, noRetries(p.storage)); err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	if p.storagePending {
		cctx, cancel := within(ctx, reloadCheckTimeout)
		err = g.checkStorage(cctx)
		cancel()
		if isUnreachable(err) {
			g.pending.Store(true)
			g.pendingErr, err = fmt.Errorf("storage check pending: %w", err), nil
		}
	} else {
		err = checkUntil(ctx, startCheckTimeout, g.checkStorage)
	}
	if err != nil {
		return nil, err
	}
	var outbox success.Outbox
	if ev := cfg.Events(); ev != nil {
		// With storage out of reach (a reload during an outage) the queues
		// are not checked now; storing and delivering events retry.
		queues, err := eventQueues(ctx, cfg.Storage, ev, p.storage, !g.pending.Load())
		if err != nil {
			return nil, err
		}
		outbox = &events.Outbox{Queue: queues.Main, Metrics: p.eventsMetrics}
		g.deliverer = &events.Deliverer{
			Queues: queues, Targets: webhookTargets(cfg), MaxAttempts: ev.MaxAttempts,
			Log: log.Named("events"), Metrics: p.eventsMetrics,
		}
		if p.deliveryBackoff != nil {
			g.deliverer.Backoff = p.deliveryBackoff
		}
		if p.deliveryPoll > 0 {
			g.deliverer.Poll = p.deliveryPoll
		}
	}
	fresh := p.status == nil
	if fresh {
		p.status = newStatus(log)
	}
	auth, err := authn.New(ctx, authnOptions(cfg.Auth))
	if err != nil {
		return nil, err
	}
	signer, signing, err := newSigner(ctx, cfg, client)
	if err != nil {
		return nil, err
	}
	g.signing = signing
	if g.pending.Load() {
		log.Warn("storage check pending: authentication and rules apply now; verifying uploads waits for storage, checked again in the background", zap.Error(g.pendingErr))
	} else {
		log.Info("storage ready",
			zap.String("account", cfg.Storage.Account),
			zap.String("key", cfg.Storage.KeyName()),
			zap.Strings("containers", cfg.Policy().Containers()),
			zap.String("staging", cfg.Staging.Container),
			zap.Int("rules", len(cfg.Policy().Rules())))
	}
	area := staging.Area{Container: cfg.Staging.Container, Client: client.NewContainerClient(cfg.Staging.Container)}
	srv := server.New(server.Options{
		Logger:      log,
		Auth:        auth,
		Policy:      cfg.Policy(),
		Resolver:    cfg.Resolver(),
		Signer:      signer,
		Lifetime:    time.Duration(cfg.SAS.Lifetime),
		Staging:     area,
		CORSOrigins: cfg.CORSOrigins,
		Ready:       p.status.report,
		Now:         p.now,
		Success:     newChecker(cfg, client, signer, area, outbox, log),
		Extra:       extra,
		Metrics:     metrics,
		Limits:      limits.New(limitsOptions(cfg.Limits), time.Now, log.Named("limits")),

		SuccessTimeout:     cfg.Success.Timeout.Duration(),
		SuccessMaxInFlight: cfg.Success.MaxInFlight,
	})
	g.srv = srv
	g.sweeper = &staging.Sweeper{Client: area.Client, Log: log.Named("sweeper"), Metrics: sweepMetrics}
	if fresh {
		g.publish(p.status) // a shared status is published to once the generation is in force
	}
	return g, nil
}

// eventQueues returns the events queue and its dead-letter queue, once
// both are found in the storage account.
func eventQueues(ctx context.Context, st config.Storage, ev *config.Events, p storageParts, check bool) (*events.Queues, error) {
	svc, err := newQueueServiceClient(st, ev.Endpoint, p)
	if err != nil {
		return nil, fmt.Errorf("queue client: %w", err)
	}
	queues, err := events.NewQueues(svc, ev.Queue)
	if err != nil {
		return nil, fmt.Errorf("webhook.queue: %w", err)
	}
	if !check {
		return queues, nil
	}
	cctx, cancel := within(ctx, startCheckTimeout)
	defer cancel()
	if err := queues.Check(cctx, st.Account); err != nil {
		return nil, fmt.Errorf("webhook events: %s", errs.FirstLine(err))
	}
	return queues, nil
}

// webhookTargets maps an event's target to its webhook in cfg: a rule's
// own, by the rule's name, or the global one for "". The secret comes from
// the configuration at each attempt and never enters the queue.
func webhookTargets(cfg *config.Config) func(string) (events.Target, bool) {
	return func(target string) (events.Target, bool) {
		w := cfg.Webhook
		if target != "" {
			w = nil
			for _, r := range cfg.Rules {
				if r.Name == target {
					w = r.Webhook
				}
			}
		}
		if w == nil {
			return events.Target{}, false
		}
		return events.Target{URL: w.URL, Secret: w.Secret(), Timeout: w.Timeout.Duration()}, true
	}
}

// noRetries returns p with the SDK's retries turned off.
func noRetries(p storageParts) storageParts {
	o := service.ClientOptions{}
	if p.options != nil {
		o = *p.options
	}
	o.Retry.MaxRetries = -1
	p.options = &o
	return p
}

// checkStorage runs the storage checks of the generation's configuration.
func (g *generation) checkStorage(ctx context.Context) error {
	return checkStorage(ctx, g.probe, g.cfg.Storage, g.cfg.Policy().Containers(), g.cfg.Staging.Container)
}

// signingErr says why the generation cannot sign, or nil.
func (g *generation) signingErr() error {
	if g.signing == nil {
		return nil
	}
	return g.signing()
}

// publish records in st what the generation knows without asking storage.
func (g *generation) publish(st *status) {
	st.set(partSigning, g.signingErr())
	if g.pending.Load() {
		st.set(partVerifying, g.pendingErr)
	} else {
		st.set(partVerifying, nil)
	}
}

// refresh checks what the generation can do and records it in st: the
// events queue is asked whether it answers; a pending storage check is run
// again (and logged when it passes), else storage is asked whether it
// answers.
func (g *generation) refresh(ctx context.Context, st *status, log *zap.Logger) {
	st.set(partSigning, g.signingErr())
	ctx, cancel := within(ctx, probeTimeout)
	defer cancel()
	if g.deliverer != nil {
		err := g.deliverer.Queues.Check(ctx, g.cfg.Storage.Account)
		if err != nil {
			err = fmt.Errorf("events queue: %s", errs.FirstLine(err))
		}
		st.set(partEvents, err)
	}
	if g.pending.Load() {
		err := g.checkStorage(ctx)
		if err != nil {
			st.set(partVerifying, fmt.Errorf("storage check pending: %w", err))
			return
		}
		g.pending.Store(false)
		log.Info("storage check passed", zap.String("account", g.cfg.Storage.Account), zap.String("key", g.cfg.Storage.KeyName()))
		st.set(partVerifying, nil)
		return
	}
	_, err := g.probe.GetProperties(ctx, nil)
	if err != nil {
		if u := unreachable(ctx, g.cfg.Storage, err); u != nil {
			err = u
		} else {
			err = fmt.Errorf("storage account %s: %s", g.cfg.Storage.Account, errs.FirstLine(err))
		}
	}
	st.set(partVerifying, err)
}

// watch keeps st up to date with the generation current returns, every
// readyEvery, until ctx ends.
func watch(ctx context.Context, st *status, current func() *generation, log *zap.Logger) {
	t := time.NewTicker(readyEvery)
	defer t.Stop()
	for {
		current().refresh(ctx, st, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newSigner returns the SAS signer for the configured credential, and what
// says whether it can sign (nil: always).
func newSigner(ctx context.Context, cfg *config.Config, client *service.Client) (server.Signer, func() error, error) {
	allowHTTP := config.IsLoopback(cfg.Storage.Endpoint)
	if cfg.Storage.Credential == config.CredentialAzureAD {
		d := sas.NewDelegationSigner(cfg.Resolver(), client, allowHTTP, time.Now, sas.DefaultKeyLifetime, sas.DefaultRenewBefore)
		if err := d.Start(ctx); err != nil {
			return nil, nil, fmt.Errorf("storage account %s refused a user delegation key: give blobvalet's identity the Storage Blob Delegator role (and Storage Blob Data Contributor on the containers): %s", cfg.Storage.Account, errs.FirstLine(err))
		}
		return d, d.Ready, nil
	}
	signer, err := sas.NewSharedKeySigner(cfg.Resolver(), cfg.Storage.Account, cfg.Storage.AccountKey(), allowHTTP)
	if err != nil {
		return nil, nil, fmt.Errorf("storage key: %w", err)
	}
	return signer, nil, nil
}

// promotionReadLifetime is how long the read-only SAS lasts with which
// storage copies a staging blob to its final name.
const promotionReadLifetime = time.Hour

// newChecker assembles the upload-success check from the configuration.
// Each compiled rule carries its thumbnail, and whether it has a webhook of
// its own, to the checker; events are stored in outbox (nil: none).
func newChecker(cfg *config.Config, client *service.Client, signer server.Signer, area staging.Area, outbox success.Outbox, log *zap.Logger) *success.Checker {
	readURL := func(ref blobref.Ref, expiry time.Time) (string, error) {
		return signer.Sign(ref, sas.Permissions{Read: true}, expiry)
	}
	actions := map[*authz.Rule]success.Actions{}
	for i, rule := range cfg.Policy().Rules() {
		r := cfg.Rules[i] // the policy's rules are the file's, in order
		a := success.Actions{Webhook: r.Webhook != nil}
		switch r.Thumbnail {
		case "none":
			a.Thumbnail.None = true
		case "", "sas":
		default:
			a.Thumbnail.Template = r.Thumbnail
		}
		actions[rule] = a
	}
	return &success.Checker{
		Store: success.AzureStore{Client: client, SourceURL: func(ref blobref.Ref) (string, error) {
			return readURL(ref, time.Now().Add(promotionReadLifetime))
		}},
		Policy:        cfg.Policy(),
		Staging:       area,
		Actions:       actions,
		Outbox:        outbox,
		GlobalWebhook: cfg.Webhook != nil,
		ReadURL:       readURL,
		Now:           time.Now,
		Log:           log,
	}
}
