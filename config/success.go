package config

import "time"

// ServerWriteTimeout is how long the HTTP server gives a request, from the
// end of its headers, to be answered; an answer not written by then is cut
// and the browser gets an empty reply. serve sets it on its server, and the
// success budget must fit inside it.
const ServerWriteTimeout = 30 * time.Second

// Success bounds the upload-success check, so that the browser always gets
// an answer: success, or a failure it can retry.
type Success struct {
	// Timeout is the budget of one upload-success request: authentication,
	// every storage call and storing the event. A request that runs out
	// answers a retryable failure. Default 20s; it must leave
	// SuccessAnswerMargin of the server's write timeout to write the
	// answer.
	Timeout Duration `yaml:"timeout"`
	// MaxInFlight is how many upload-success checks may run at once; one
	// more is answered 503 with Retry-After at once. Default 64.
	MaxInFlight int `yaml:"max_in_flight"`
	// DefaultMaxSize is the size limit of every rule without max_size: no
	// upload is ever without one. Default 5GiB.
	DefaultMaxSize ByteSize `yaml:"default_max_size"`
}

// Success defaults and limits.
const (
	DefaultSuccessTimeout     = 20 * time.Second
	MinSuccessTimeout         = time.Second
	SuccessAnswerMargin       = 5 * time.Second
	MaxSuccessTimeout         = ServerWriteTimeout - SuccessAnswerMargin
	DefaultSuccessMaxInFlight = 64
	MaxSuccessMaxInFlight     = 10000
	// DefaultSuccessMaxSize is success.DefaultMaxSize: about the largest
	// file a browser upload is used for, the most Azure copies in one Put
	// Blob From URL, and a server-side copy well inside the hour a
	// promotion may take.
	DefaultSuccessMaxSize ByteSize = 5 << 30
)

func (s *Success) complete(p *problems) {
	switch t := time.Duration(s.Timeout); {
	case t == 0:
		s.Timeout = Duration(DefaultSuccessTimeout)
	case t < MinSuccessTimeout || t > MaxSuccessTimeout:
		p.add("success.timeout", "want between %v and %v (the server's write timeout, %v, less %v to write the answer), got %v",
			MinSuccessTimeout, MaxSuccessTimeout, ServerWriteTimeout, SuccessAnswerMargin, t)
	}
	switch n := s.MaxInFlight; {
	case n == 0:
		s.MaxInFlight = DefaultSuccessMaxInFlight
	case n < 1 || n > MaxSuccessMaxInFlight:
		p.add("success.max_in_flight", "want between 1 and %d, got %d", MaxSuccessMaxInFlight, n)
	}
	if s.DefaultMaxSize == 0 {
		s.DefaultMaxSize = DefaultSuccessMaxSize
	}
}
