package config

import "time"

// Shutdown defaults.
const (
	DefaultShutdownDrain   = 5 * time.Second
	DefaultShutdownTimeout = 35 * time.Second
)

// Shutdown sets how blobvalet stops on SIGTERM or SIGINT: readiness fails
// at once, serving goes on for Drain (while load balancers take the
// instance out), then no new connection is accepted and the requests in
// flight get up to Timeout to finish. A second signal stops at once.
type Shutdown struct {
	// Drain is how long blobvalet keeps serving after the signal, with
	// readiness failing. Default 5s.
	Drain Duration `yaml:"drain"`
	// Timeout is how long the requests in flight then get to finish;
	// longer than the write timeout (30s), so that none is cut. Default 35s.
	Timeout Duration `yaml:"timeout"`
}

func (s *Shutdown) complete(p *problems) {
	if s.Drain == 0 {
		s.Drain = Duration(DefaultShutdownDrain)
	}
	switch t := time.Duration(s.Timeout); {
	case t == 0:
		s.Timeout = Duration(DefaultShutdownTimeout)
	case t <= ServerWriteTimeout:
		p.add("shutdown.timeout", "want more than the write timeout (%v), so that no request in flight is cut, got %v", ServerWriteTimeout, t)
	}
}
