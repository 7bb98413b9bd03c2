package app

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/blobref"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/azblob"
	"github.com/blobvalet/blobvalet/config"
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
	_ blobstore.Prober      = azblob.Store{}
	_ success.Store         = azblob.Store{}
	_ staging.SweepStore    = azblob.Store{}
	_ server.SuccessChecker = (*success.Checker)(nil)
	_ success.Outbox        = (*events.Outbox)(nil)
)

// deps are what a configuration is wired with besides the file itself:
// what every generation of a running blobvalet shares.
type deps struct {
	log     *zap.Logger
	extra   func(*mux.Router) // further routes, such as the demo page
	now     func() time.Time  // the clock of SAS expiry; nil means time.Now
	metrics *server.Metrics   // nil makes new ones
	// sweepMetrics and eventsMetrics count sweeps and webhook events; nil
	// counts nothing.
	sweepMetrics  *staging.Metrics
	eventsMetrics *events.Metrics
	clients       clientSettings
	readiness     *readiness // what /readyz reports; required
	// deliveryBackoff and deliveryPoll replace the deliverer's defaults
	// when set.
	deliveryBackoff func(attempt int) time.Duration
	deliveryPoll    time.Duration
	// uploadHook is the traditional endpoint's test hook; nil for none.
	uploadHook UploadHook
}

// checkMode says how newGeneration checks storage.
type checkMode int

const (
	// startupCheck tries again while storage cannot be reached, until
	// startCheckTimeout, and fails then: nothing serves yet.
	startupCheck checkMode = iota
	// reloadCheck tries once; when storage cannot be reached the
	// generation is built with its storage check pending, so that a
	// reload during an outage still applies authentication and rules.
	reloadCheck
)

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
	// queues are the deliverer's, which readiness asks whether they answer.
	queues *eventsQueues
	// probe is a client that never retries, so that each check says at
	// once what failed; nil on S3.
	probe *service.Client
	// s3 is the S3-compatible storage with storage.kind s3, else nil.
	s3 *s3Storage
	// public serves the public listener: srv, or srv behind what keeps
	// out the routes a storage kind does not serve.
	public http.Handler
	// signing reports whether the signer can sign; nil means always.
	signing func() error
	// pending is set while the storage check at reload could not reach
	// storage; refresh runs it until it passes.
	pending    atomic.Bool
	pendingErr error
}

// newGeneration checks storage as check says and builds what cfg runs.
// Publishing it to readiness, once it is in force, is the caller's job.
func newGeneration(ctx context.Context, cfg *config.Config, d deps, check checkMode) (*generation, error) {
	if cfg.Storage.IsS3() {
		return newS3Generation(ctx, cfg, d, check)
	}
	log := d.log
	given := d.clients.options
	if d.clients.options == nil {
		d.clients.options = &service.ClientOptions{ClientOptions: storageClientOptions(cfg.Success.Timeout.Duration())}
	}
	client, err := newServiceClient(cfg.Storage, d.clients)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	g := &generation{cfg: cfg}
	if g.probe, err = newServiceClient(cfg.Storage, noRetries(d.clients)); err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	if err := g.checkStorageFor(ctx, check); err != nil {
		return nil, err
	}
	outbox, err := g.newEvents(ctx, cfg, d)
	if err != nil {
		return nil, err
	}
	auth, err := authn.New(ctx, authnOptions(cfg.Auth))
	if err != nil {
		return nil, err
	}
	signer, signing, err := newSigner(ctx, cfg, client, backgroundFailed(log, d.metrics))
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
	area := staging.Area{Container: cfg.Staging.Container}
	store := azblob.Store{Client: client, SourceURL: func(ref blobref.Ref) (string, error) {
		return signer.Sign(ref, blobstore.Read, time.Now().Add(promotionReadLifetime))
	}}
	checker := newChecker(cfg, store, func(ref blobref.Ref, expiry time.Time) (string, error) {
		return signer.Sign(ref, blobstore.Read, expiry)
	}, area, outbox, log)
	checker.BackgroundFailed = d.metrics.BackgroundFailed
	uploads, err := newUploads(cfg, d, given, area, checker)
	if err != nil {
		return nil, err
	}
	var traditional server.Traditional
	if uploads != nil {
		traditional = uploads
	}
	g.srv, err = server.New(server.Options{
		Logger:      log,
		Auth:        auth,
		Policy:      cfg.Policy(),
		Resolver:    cfg.Resolver(),
		Signer:      signer,
		Lifetime:    time.Duration(cfg.SAS.Lifetime),
		Staging:     area,
		Uploads:     store,
		CORSOrigins: cfg.CORSOrigins,
		Ready:       d.readiness.report,
		Now:         d.now,
		Success:     checker,
		Extra:       d.extra,
		Metrics:     d.metrics,
		Limits:      limits.New(limitsOptions(cfg.Limits), time.Now, log.Named("limits")),

		SuccessTimeout:      cfg.Success.Timeout.Duration(),
		SuccessMaxInFlight:  cfg.Success.MaxInFlight,
		Traditional:         traditional,
		TraditionalTimeouts: uploadTimeouts(cfg.Upload),
	})
	if err != nil {
		return nil, err
	}
	g.public = g.srv
	g.sweeper = &staging.Sweeper{Container: area.Container, Store: store, Log: log.Named("sweeper"), Metrics: d.sweepMetrics}
	return g, nil
}

// checkStorageFor runs the generation's storage check as check says; with
// reloadCheck, storage out of reach leaves the check pending.
func (g *generation) checkStorageFor(ctx context.Context, check checkMode) error {
	if check == startupCheck {
		return checkUntil(ctx, startCheckTimeout, g.checkStorage)
	}
	cctx, cancel := within(ctx, reloadCheckTimeout)
	defer cancel()
	err := g.checkStorage(cctx)
	if isUnreachable(err) {
		g.pending.Store(true)
		g.pendingErr = fmt.Errorf("storage check pending: %w", err)
		return nil
	}
	return err
}

// checkStorage runs the storage checks of the generation's configuration.
func (g *generation) checkStorage(ctx context.Context) error {
	if g.s3 != nil {
		return g.s3.check(ctx)
	}
	return checkStorage(ctx, g.probe, g.cfg.Storage, g.cfg.Policy().Containers(), g.cfg.Staging.Container)
}

// signingErr says why the generation cannot sign, or nil.
func (g *generation) signingErr() error {
	if g.signing == nil {
		return nil
	}
	return g.signing()
}

// newSigner returns the SAS signer for the configured credential, and what
// says whether it can sign (nil: always).
func newSigner(ctx context.Context, cfg *config.Config, client *service.Client, failed func(task string, err error)) (server.Signer, func() error, error) {
	allowHTTP := config.IsLoopback(cfg.Storage.Endpoint)
	if cfg.Storage.Credential == config.CredentialAzureAD {
		d := sas.NewDelegationSigner(cfg.Resolver(), client, allowHTTP, time.Now, sas.DefaultKeyLifetime, sas.DefaultRenewBefore)
		d.Failed = func(err error) { failed("delegation_key", err) }
		if err := d.Start(ctx); err != nil {
			return nil, nil, fmt.Errorf("storage account %s refused a user delegation key: give blobvalet's identity the Storage Blob Delegator role (and Storage Blob Data Contributor on the containers): %w", cfg.Storage.Account, azblob.Wrap(err))
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
// Each rule's actions (checkerActions) are found by its name; thumbnails
// are signed by readURL; events are stored in outbox (nil: none).
func newChecker(cfg *config.Config, store success.Store, readURL func(blobref.Ref, time.Time) (string, error), area staging.Area, outbox success.Outbox, log *zap.Logger) *success.Checker {
	return &success.Checker{
		Store:         store,
		Policy:        cfg.Policy(),
		Staging:       area,
		Actions:       checkerActions(cfg.Rules),
		Outbox:        outbox,
		GlobalWebhook: cfg.Webhook != nil,
		ReadURL:       readURL,
		Now:           time.Now,
		Log:           log,
		// Promotions that outlast their request count against the same
		// cap as the requests themselves.
		MaxCompleting:  cfg.Success.MaxInFlight,
		DefaultMaxSize: int64(cfg.Success.DefaultMaxSize),
	}
}

// backgroundFailed returns what logs and counts a failure of work that no
// request waits for.
func backgroundFailed(log *zap.Logger, metrics *server.Metrics) func(task string, err error) {
	return func(task string, err error) {
		log.Error(task+" failed", zap.String("task", task), zap.Error(azblob.Wrap(err)))
		metrics.BackgroundFailed(task)
	}
}

// newEvents builds the events queues and their deliverer when cfg has a
// webhook, on Azure Queue Storage or SQS, and returns the outbox verified
// uploads' events go to; nil without a webhook.
func (g *generation) newEvents(ctx context.Context, cfg *config.Config, d deps) (success.Outbox, error) {
	ev := cfg.Events()
	if ev == nil {
		return nil, nil
	}
	log := d.log
	// With storage out of reach (a reload during an outage) the queues
	// are not checked now; storing and delivering events retry.
	queues, err := eventQueues(ctx, cfg.Storage, ev, d.clients, cfg.Success.Timeout.Duration(), !g.pending.Load())
	if err != nil {
		return nil, err
	}
	for _, w := range queues.warnings {
		log.Warn("events queue: "+w, zap.String("queue", ev.Queue))
	}
	g.queues = queues
	outbox := &events.Outbox{Queue: queues.Main, Metrics: d.eventsMetrics}
	g.deliverer = &events.Deliverer{
		Queues: queues.Queues, Targets: webhookTargets(cfg), MaxAttempts: ev.MaxAttempts,
		Log: log.Named("events"), Metrics: d.eventsMetrics,
	}
	if d.deliveryBackoff != nil {
		g.deliverer.Backoff = d.deliveryBackoff
	}
	if d.deliveryPoll > 0 {
		g.deliverer.Poll = d.deliveryPoll
	}
	return outbox, nil
}
