package config

import (
	"slices"
	"strings"
	"time"

	"github.com/blobvalet/blobvalet/authz"
)

// Staging configures the private container where every upload waits until
// the upload-success check has verified it and promoted it to its final
// name.
type Staging struct {
	// Container is the staging container: private, and named by no rule.
	// With storage.kind s3, the staging bucket.
	Container string `yaml:"container"`
	// Bucket is the S3 spelling of Container (storage.kind s3 only).
	Bucket string `yaml:"bucket"`
	// MaxAge is how long an unverified upload may stay before the sweeper
	// removes it. Default 24h.
	MaxAge Duration `yaml:"max_age"`
	// SweepEvery is how often serve sweeps. Default 10m.
	SweepEvery Duration `yaml:"sweep_every"`
}

// Staging defaults and limits.
const (
	DefaultStagingMaxAge = 24 * time.Hour
	DefaultSweepEvery    = 10 * time.Minute
	MinSweepEvery        = time.Minute
)

func (s *Staging) complete(p *problems, st *Storage, policy *authz.Policy, sasLifetime time.Duration) {
	written := s.Container
	st.resolveBucket(p, "staging", &s.Container, &s.Bucket)
	field := containerField("staging", written, s.Bucket)
	switch msg := st.checkContainerName(s.Container); {
	case s.Container == "" && st.IsS3():
		p.add("staging.bucket", "required: a private bucket for unverified uploads, e.g. staging: {bucket: uploads-incoming}; create it with Block Public Access on")
	case s.Container == "" && s.Bucket == "":
		p.add("staging.container", "required: a private container for unverified uploads, e.g. staging: {container: incoming}; create it without public access")
	case s.Container == "":
	case msg != "":
		p.add(field, "%s", msg)
	case slices.Contains(policy.Containers(), s.Container):
		p.add(field, "%q is named by a rule: the staging %s must be one that no rule names, so that nobody can sign for it directly", s.Container, strings.TrimPrefix(field, "staging."))
	}
	if s.MaxAge == 0 {
		s.MaxAge = Duration(DefaultStagingMaxAge)
	}
	if a := time.Duration(s.MaxAge); a < MaxSASLifetime || a < sasLifetime {
		p.add("staging.max_age", "want at least %v (the longest SAS lifetime), so that no upload in progress is swept; got %v", max(MaxSASLifetime, sasLifetime), a)
	}
	if s.SweepEvery == 0 {
		s.SweepEvery = Duration(DefaultSweepEvery)
	}
	if e := time.Duration(s.SweepEvery); e < MinSweepEvery || e > time.Duration(s.MaxAge) {
		p.add("staging.sweep_every", "want between %v and staging.max_age (%v), got %v", MinSweepEvery, time.Duration(s.MaxAge), e)
	}
}
