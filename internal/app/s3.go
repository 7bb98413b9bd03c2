package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/authn"
	"github.com/blobvalet/blobvalet/authz"
	"github.com/blobvalet/blobvalet/blobstore"
	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/limits"
	"github.com/blobvalet/blobvalet/s3sign"
	"github.com/blobvalet/blobvalet/server"
	"github.com/blobvalet/blobvalet/staging"
	"github.com/blobvalet/blobvalet/success"
)

// What serve wires on S3, and what it must satisfy.
var (
	_ blobstore.Prober   = s3.Store{}
	_ success.Store      = s3.Store{}
	_ staging.SweepStore = s3.Store{}
)

// s3Storage is a generation's S3-compatible storage: the store that
// verifies, promotes and sweeps with serve's retries, and one that asks
// once, for the checks.
type s3Storage struct {
	cfg   *config.Config
	store s3.Store
	probe s3.Store
	// found is what the last full check found.
	found S3Report
}

// S3Report is what the storage checks found on an S3-compatible service
// besides the problems they refuse: which create-only writes it honours,
// and what it could not tell about the staging bucket's exposure.
type S3Report struct {
	// CreateOnly is the create-only probe's finding in the staging bucket.
	CreateOnly s3.CreateOnly
	// Notes are advice on the staging bucket (Block Public Access) and
	// what the service would not tell.
	Notes []string
}

// newS3Client returns a client of the configured S3 service that acts as
// the service credential, tries a call at most attempts times and waits
// at most try for each answer's headers (0: no limit).
func newS3Client(st config.Storage, attempts int, try time.Duration) (*s3.Store, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = try
	// Storage's bytes as stored: an object stored with Content-Encoding:
	// gzip must show its encoding to the content check.
	t.DisableCompression = true
	k := st.S3Service()
	c, err := s3.NewClient(s3.Config{
		Endpoint: st.Endpoint, Region: st.Region, PathStyle: st.PathStyle(),
		AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, SessionToken: k.SessionToken,
		HTTPClient: &http.Client{Transport: t}, MaxAttempts: attempts,
	})
	if err != nil {
		return nil, fmt.Errorf("storage.service: %w", err)
	}
	return &s3.Store{Client: c}, nil
}

// NewS3Store returns the store of an S3 configuration with the SDK's
// retries, for the commands.
func NewS3Store(cfg *config.Config) (s3.Store, error) {
	s, err := newS3Client(cfg.Storage, 0, 0)
	if err != nil {
		return s3.Store{}, err
	}
	return *s, nil
}

func newS3Storage(cfg *config.Config) (*s3Storage, error) {
	store, err := newS3Client(cfg.Storage, storageMaxRetries+1, storageTryTimeout(cfg.Success.Timeout.Duration()))
	if err != nil {
		return nil, err
	}
	probe, err := newS3Client(cfg.Storage, 1, probeTimeout)
	if err != nil {
		return nil, err
	}
	return &s3Storage{cfg: cfg, store: *store, probe: *probe}, nil
}

// newS3Generation checks S3 storage as check says and builds what cfg
// runs on it: the S3 signing routes (signed with storage.signer), the
// success check, the sweeper and the events on the S3 store (with the
// service credential). /sas, which signs for Azure, is not served.
func newS3Generation(ctx context.Context, cfg *config.Config, d deps, check checkMode) (*generation, error) {
	log := d.log
	st, err := newS3Storage(cfg)
	if err != nil {
		return nil, err
	}
	g := &generation{cfg: cfg, s3: st}
	if err := g.checkStorageFor(ctx, check); err != nil {
		return nil, err
	}
	auth, err := authn.New(ctx, authnOptions(cfg.Auth))
	if err != nil {
		return nil, err
	}
	store := st.store
	// CopyObject only where the probe proved it create-only; otherwise
	// (and while the check is pending) the multipart copy.
	store.CopyIfNoneMatch = st.found.CreateOnly.Copy
	if g.pending.Load() {
		log.Warn("storage check pending: authentication and rules apply now; verifying uploads waits for storage, checked again in the background", zap.Error(g.pendingErr))
	} else {
		log.Info("storage ready",
			zap.String("endpoint", cfg.Storage.Endpoint),
			zap.String("key", cfg.Storage.KeyName()),
			zap.Strings("buckets", cfg.Policy().Containers()),
			zap.String("staging", cfg.Staging.Container),
			zap.Bool("copy_if_none_match", store.CopyIfNoneMatch),
			zap.Int("rules", len(cfg.Policy().Rules())))
		for _, n := range st.found.CreateOnly.Notes {
			log.Info("create-only probe", zap.String("found", n))
		}
		for _, n := range st.found.Notes {
			log.Warn("staging bucket", zap.String("advice", n), zap.String("staging", cfg.Staging.Container))
		}
	}
	outbox, err := g.newEvents(ctx, cfg, d)
	if err != nil {
		return nil, err
	}
	area := staging.Area{Container: cfg.Staging.Container, LimitBytes: true}
	checker := newChecker(cfg, store, store.ReadURL, area, outbox, log)
	checker.BackgroundFailed = d.metrics.BackgroundFailed
	routes, err := newS3Routes(cfg, d.now, area, store)
	if err != nil {
		return nil, err
	}
	g.srv, err = server.New(server.Options{
		Logger:      log,
		Auth:        auth,
		Policy:      cfg.Policy(),
		S3:          routes,
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

		SuccessTimeout:     cfg.Success.Timeout.Duration(),
		SuccessMaxInFlight: cfg.Success.MaxInFlight,
	})
	if err != nil {
		return nil, err
	}
	g.public = g.srv
	g.sweeper = &staging.Sweeper{Container: area.Container, Store: store, Log: log.Named("sweeper"), Metrics: d.sweepMetrics}
	return g, nil
}

// newS3Routes builds the S3 signing routes of cfg: the signer holds
// storage.signer's key, files are read and deleted with the service's.
func newS3Routes(cfg *config.Config, now func() time.Time, area staging.Area, files server.S3Files) (*server.S3, error) {
	sg, _ := NewS3Signing(cfg)
	c := s3sign.Config{
		AccessKeyID: sg.Keys.AccessKeyID, SecretAccessKey: sg.Keys.SecretAccessKey,
		Region: sg.Region, Bucket: sg.Bucket, Endpoint: cfg.Storage.Endpoint,
		PathStyle: sg.PathStyle, ACL: sg.ACL,
	}
	if !sg.PathStyle {
		c.Host = sg.Host
	}
	if now == nil {
		now = time.Now //nolint:forbidigo // the default clock
	}
	signer, err := s3sign.New(c, now)
	if err != nil {
		return nil, fmt.Errorf("storage.signer: %w", err)
	}
	return &server.S3{
		Signer: signer, Staging: area, Lifetime: sg.Lifetime,
		DefaultMaxSize: int64(cfg.Success.DefaultMaxSize), Files: files,
	}, nil
}

// check runs the storage checks of an S3 configuration: the service
// answers and takes the service credential, every bucket a rule names
// exists, the staging bucket exists and is not public, and the service
// honours the create-only write promotion uses wherever a rule may not
// overwrite.
func (s *s3Storage) check(ctx context.Context) error {
	found, err := checkS3(ctx, s.probe, s.cfg)
	if err != nil {
		return err
	}
	s.found = found
	return nil
}

// ping asks whether storage answers: the staging bucket, with one try.
func (s *s3Storage) ping(ctx context.Context) error {
	err := s.probe.CheckBucket(ctx, s.cfg.Staging.Container)
	if u := unreachable(ctx, s.cfg.Storage, err); u != nil {
		return u
	}
	if err != nil {
		return fmt.Errorf("staging bucket %s at %s: %w", s.cfg.Staging.Container, s.cfg.Storage.Endpoint, err)
	}
	return nil
}

// checkS3 runs the checks of s3Storage.check with store, which should ask
// once: a check that cannot reach storage says so at once.
func checkS3(ctx context.Context, store s3.Store, cfg *config.Config) (S3Report, error) {
	st := cfg.Storage
	var rep S3Report
	bucketErr := func(bucket, role string, err error) error {
		if u := unreachable(ctx, st, err); u != nil {
			return fmt.Errorf("%w: check storage.endpoint and the network", u)
		}
		switch {
		case errors.Is(err, blobstore.ErrNotFound):
			return fmt.Errorf("%s %q does not exist at %s: create it (aws s3api create-bucket --bucket %s --region %s) or fix the configuration", role, bucket, st.Endpoint, bucket, st.Region)
		case errors.Is(err, blobstore.ErrRefused):
			return fmt.Errorf("storage at %s refused storage.service (%s) on %s %q: check the key, and that its IAM policy allows it on the bucket (docs/storage-s3.md): %w", st.Endpoint, st.S3Service(), role, bucket, err)
		}
		return fmt.Errorf("%s %q at %s: %w", role, bucket, st.Endpoint, err)
	}
	for _, b := range cfg.Policy().Containers() {
		if err := store.CheckBucket(ctx, b); err != nil {
			return rep, bucketErr(b, "bucket, named by a rule,", err)
		}
	}
	stg := cfg.Staging.Container
	if err := store.CheckBucket(ctx, stg); err != nil {
		return rep, bucketErr(stg, "staging bucket", err)
	}
	ex, err := store.BucketExposure(ctx, stg)
	if err != nil {
		return rep, bucketErr(stg, "staging bucket", err)
	}
	if len(ex.Public) > 0 {
		return rep, fmt.Errorf("staging bucket %q is public (%s): unverified uploads must never be readable; remove what makes it public and turn on Block Public Access", stg, joinAnd(ex.Public))
	}
	rep.Notes = ex.Notes
	if rep.CreateOnly, err = store.ProbeCreateOnly(ctx, stg); err != nil {
		return rep, bucketErr(stg, "staging bucket", err)
	}
	return rep, createOnlyRules(cfg, rep.CreateOnly)
}

// createOnlyRules refuses every rule that may not overwrite, where the
// service would not keep its promotion from overwriting: a rule with
// overwrite: false must never replace a file, and checking for a file
// first and then copying leaves a race.
func createOnlyRules(cfg *config.Config, co s3.CreateOnly) error {
	var probs []error
	for i, r := range cfg.Policy().Rules() {
		if r.Overwrite || !slices.Contains(r.Methods, authz.Put) {
			continue
		}
		size := r.Constraints.MaxSize
		if size == 0 {
			size = int64(cfg.Success.DefaultMaxSize)
		}
		if co.CanCreateOnly(size) {
			continue
		}
		why := "If-None-Match: * on the multipart copy's CompleteMultipartUpload"
		if co.Copy {
			why = fmt.Sprintf("If-None-Match: * on CompleteMultipartUpload, which promotes uploads above %d GiB (the rule allows up to %d bytes)", s3.MaxCopySize>>30, size)
		}
		probs = append(probs, fmt.Errorf("rules[%d] (%s) has overwrite: false, but storage at %s does not honour %s (%s): blobvalet could not keep a promotion from replacing a file; use a service that honours it (AWS S3 does), or set overwrite: true on the rule",
			i, r.Name, cfg.Storage.Endpoint, why, joinAnd(co.Notes)))
	}
	return errors.Join(probs...)
}

func joinAnd(l []string) string {
	switch len(l) {
	case 0:
		return "no reason given"
	case 1:
		return l[0]
	}
	s := l[0]
	for _, x := range l[1 : len(l)-1] {
		s += ", " + x
	}
	return s + " and " + l[len(l)-1]
}

// CheckS3 runs serve's start-up checks of an S3 configuration once, with
// one try per call, and says what it found.
func CheckS3(ctx context.Context, cfg *config.Config) (S3Report, error) {
	store, err := newS3Client(cfg.Storage, 1, probeTimeout)
	if err != nil {
		return S3Report{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	return checkS3(cctx, *store, cfg)
}

// CheckS3Buckets checks that the staging bucket of an S3 configuration
// exists: what blobvalet sweep needs, without serve's other checks.
func CheckS3Buckets(ctx context.Context, store s3.Store, cfg *config.Config) error {
	cctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	stg := cfg.Staging.Container
	err := store.CheckBucket(cctx, stg)
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		return fmt.Errorf("staging bucket %q does not exist at %s: create it, or fix staging.bucket", stg, cfg.Storage.Endpoint)
	case err != nil:
		return fmt.Errorf("staging bucket %q at %s: %w", stg, cfg.Storage.Endpoint, err)
	}
	return nil
}

// S3Signing is what the S3 signing routes sign with, from the
// configuration: the signer's key, where the browsers send their uploads
// and with which ACL. server.Options.S3 is built from it.
type S3Signing struct {
	// Keys sign the browsers' requests (storage.signer).
	Keys config.S3Keys
	// Region is the region they are signed for.
	Region string
	// Bucket is the staging bucket, where every upload goes first.
	Bucket string
	// Host is the staging bucket's host as the browser sends and signs it:
	// BUCKET.HOST with virtual addressing, HOST with path addressing.
	Host string
	// URL is the staging bucket's URL, no trailing slash: presigned URLs
	// begin with it.
	URL string
	// PathStyle is true with addressing: path.
	PathStyle bool
	// ACL is the canned ACL an upload must carry (storage.acl).
	ACL string
	// Lifetime is how long a presigned URL or a policy is valid
	// (sas.lifetime, unless the rule sets its own).
	Lifetime time.Duration
}

// NewS3Signing returns the S3 signing settings of cfg; ok is false when
// storage is not S3.
func NewS3Signing(cfg *config.Config) (s S3Signing, ok bool) {
	st := &cfg.Storage
	if !st.IsS3() {
		return S3Signing{}, false
	}
	b := cfg.Staging.Container
	return S3Signing{
		Keys: st.S3Signer(), Region: st.Region, Bucket: b,
		Host: st.BucketHost(b), URL: st.BucketURL(b), PathStyle: st.PathStyle(),
		ACL: st.ACL, Lifetime: time.Duration(cfg.SAS.Lifetime),
	}, true
}

// CheckOnlineS3 is CheckOnline for an S3 configuration, which also says
// what the storage checks found: which create-only writes the service
// honours, and advice on the staging bucket.
func CheckOnlineS3(ctx context.Context, cfg *config.Config) (S3Report, []error) {
	var problems []error
	rep, err := CheckS3(ctx, cfg)
	if err != nil {
		problems = append(problems, err)
	}
	if cfg.Auth.JWT != nil {
		if _, err := authn.New(ctx, authnOptions(cfg.Auth)); err != nil {
			problems = append(problems, err)
		}
	}
	return rep, problems
}
