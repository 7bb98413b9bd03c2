package app

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/blobvalet/blobvalet/blobstore/s3"
	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/corscfg"
	"github.com/blobvalet/blobvalet/s3emu"
	"github.com/blobvalet/blobvalet/web"
)

// The buckets of blobvalet dev on S3: the final ones the rules name, and
// the private staging bucket every upload lands in first.
const (
	devStagingBucket = "incoming"
	devFinalBucket   = "uploads"
)

// startS3Dev is StartDev on versitygw: the buckets, the staging bucket's
// CORS for the demo page, and the service signing with versitygw's key.
// Buckets are reached at BUCKET.localhost, as Fine Uploader S3's v4
// chunking needs.
func startS3Dev(ctx context.Context, o DevOptions) (*Dev, error) {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (pick another with --listen): %w", o.Listen, err)
	}
	vendor, err := web.InstallVendor(ctx, o.Log)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("install fine-uploader and uppy: %w", err)
	}
	emu, err := s3emu.Start(ctx, s3emu.Options{DataDir: o.DataDir, Progress: o.Log, VirtualDomain: "localhost", IAM: true})
	if err != nil {
		ln.Close()
		return nil, err
	}
	env, err := setUpS3Dev(ctx, emu, ln, vendor, o)
	if err != nil {
		ln.Close()
		emu.Stop()
		return nil, err
	}
	return env, nil
}

func setUpS3Dev(ctx context.Context, emu *s3emu.Server, ln net.Listener, vendor web.Vendor, o DevOptions) (*Dev, error) {
	if err := emu.CreateBuckets(ctx, devFinalBucket, "shared", devStagingBucket); err != nil {
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	if err := applyS3CORS(ctx, s3.Store{Client: emu.Client()}, devStagingBucket, url); err != nil {
		return nil, err
	}
	signerID, signerSecret, err := devSigner(ctx, emu)
	if err != nil {
		return nil, err
	}
	env := &Dev{URL: url, S3: emu, Tokens: map[string]string{"alice": newToken(), "bob": newToken()}, done: make(chan error, 1)}
	// The signer key can only write the staging bucket; versitygw's root
	// key acts for the service.
	secrets := map[string]string{
		"DEV_S3_SIGNER_ID": signerID, "DEV_S3_SIGNER_SECRET": signerSecret,
		"DEV_S3_ID": emu.AccessKey(), "DEV_S3_SECRET": emu.SecretKey(),
		"DEV_ALICE_TOKEN": env.Tokens["alice"], "DEV_BOB_TOKEN": env.Tokens["bob"],
	}
	yaml := fmt.Sprintf(`
listen: %q
storage:
  kind: s3
  region: %s
  endpoint: %q
  addressing: virtual
  signer: {access_key_id_env: DEV_S3_SIGNER_ID, secret_access_key_env: DEV_S3_SIGNER_SECRET}
  service: {access_key_id_env: DEV_S3_ID, secret_access_key_env: DEV_S3_SECRET}
staging: {bucket: %s}
cors_origins: [%q]
auth:
  tokens:
    - {user: alice, token_env: DEV_ALICE_TOKEN, groups: [staff]}
    - {user: bob, token_env: DEV_BOB_TOKEN}
log: {format: console}
`, ln.Addr().String(), s3emu.Region, emu.VirtualEndpoint(), devStagingBucket, url) + devRules
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return secrets[k] })
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	env.Cfg = cfg
	log, err := NewLogger(cfg.Log, o.Log)
	if err != nil {
		return nil, err
	}
	demo := web.Demo{
		Users: []web.User{{ID: "alice", Token: env.Tokens["alice"]}, {ID: "bob", Token: env.Tokens["bob"]}},
		S3: &web.S3Demo{
			Endpoint: cfg.Storage.BucketURL(devStagingBucket), Bucket: devStagingBucket,
			Region: cfg.Storage.Region, AccessKey: cfg.Storage.S3Signer().AccessKeyID,
			ACL: cfg.Storage.ACL, FinalBucket: devFinalBucket,
		},
	}
	st := newReadiness(log)
	g, err := newGeneration(ctx, cfg, deps{log: log, extra: web.Routes(demo, vendor), readiness: st}, startupCheck)
	if err != nil {
		return nil, err
	}
	g.publish(st)
	go watch(ctx, st, func() *generation { return g }, log)
	if g.deliverer != nil {
		go g.deliverer.Run(ctx)
	}
	h := withAdmin(g.srv)
	if !o.Expose {
		h = web.HostGuard(ln.Addr().String(), h)
	}
	go func() {
		err := serveOn(ctx, h, ln, "listening", log)
		emu.Stop()
		log.Sync()
		env.done <- err
	}()
	return env, nil
}

// devSigner adds the account that signs the browsers' requests, and lets
// it only write objects in the staging bucket (docs/storage-s3.md's IAM
// policy, as a bucket policy): a signature blobvalet should not have made
// still cannot read, delete, copy out of a final bucket or change CORS.
func devSigner(ctx context.Context, emu *s3emu.Server) (id, secret string, err error) {
	id, secret, err = emu.NewUser(ctx)
	if err != nil {
		return "", "", err
	}
	if err := emu.Grant(ctx, devStagingBucket, id, "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"); err != nil {
		return "", "", fmt.Errorf("the signer's policy on the staging bucket: %w", err)
	}
	return id, secret, nil
}

// applyS3CORS lets the demo page's origin send Fine Uploader S3's and
// Uppy's requests to the staging bucket, and read their ETags.
func applyS3CORS(ctx context.Context, store s3.Store, bucket, origin string) error {
	current, err := corscfg.GetS3(ctx, store, bucket)
	if err != nil {
		return fmt.Errorf("storage CORS: %w", err)
	}
	res, err := corscfg.Plan(current, corscfg.Desired{Origins: []string{origin}, MaxAge: time.Hour, S3: true})
	if err != nil {
		return fmt.Errorf("storage CORS: %w", err)
	}
	if !res.Changed() {
		return nil
	}
	if err := corscfg.SetS3(ctx, store, bucket, res.After); err != nil {
		return fmt.Errorf("storage CORS: %w", err)
	}
	return nil
}
