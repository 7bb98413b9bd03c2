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
	Container string `yaml:"container"`
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

func (s *Staging) complete(p *problems, policy *authz.Policy, sasLifetime time.Duration) {
	switch {
	case s.Container == "":
		p.add("staging.container", "required: a private container for unverified uploads, e.g. staging: {container: incoming}; create it without public access")
	case !containerName.MatchString(s.Container) || strings.Contains(s.Container, "--"):
		p.add("staging.container", "%q is not a container name (3-63 lowercase letters, digits and single hyphens)", s.Container)
	case slices.Contains(policy.Containers(), s.Container):
		p.add("staging.container", "%q is named by a rule: the staging container must be one that no rule names, so that nobody can sign for it directly", s.Container)
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
