package config

import (
	"net/url"
	"time"
)

// Webhook receives a signed JSON event for each verified upload.
type Webhook struct {
	// URL receives the POST.
	URL string `yaml:"url"`
	// SecretEnv names the environment variable holding the HMAC secret.
	SecretEnv string `yaml:"secret_env"`
	// SecretFile names a file holding the HMAC secret.
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds one delivery. Default 5s, at most 30s.
	Timeout Duration `yaml:"timeout"`
	// Queue is the events queue in the storage account, where events wait
	// until the webhook takes them; its dead letters are in QUEUE-dead.
	// Global webhook only; default blobvalet-events.
	Queue string `yaml:"queue"`
	// MaxAttempts is how many times an event is posted before it moves to
	// the dead-letter queue. Global webhook only; default 10.
	MaxAttempts int `yaml:"max_attempts"`

	secret []byte
}

// Secret returns the HMAC secret read at load time.
func (w *Webhook) Secret() []byte { return w.secret }

func (w *Webhook) complete(p *problems, field string, getenv func(string) string) {
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.add(field+".url", "want an absolute http(s) URL, got %q", w.URL)
	} else if u.Scheme == "http" && !IsLoopback(w.URL) {
		p.add(field+".url", "%q uses http, which would send uploads' details in the clear; use https (http only on loopback)", w.URL)
	}
	secret, err := readSecret(w.SecretEnv, w.SecretFile, getenv)
	if err != nil {
		p.add(field, "%v", err)
	} else if len(secret) < 16 {
		p.add(field, "the secret in %s is shorter than 16 characters", secretSource(w.SecretEnv, w.SecretFile))
	}
	w.secret = []byte(secret)
	switch t := time.Duration(w.Timeout); {
	case t == 0:
		w.Timeout = Duration(5 * time.Second)
	case t < 100*time.Millisecond || t > 30*time.Second:
		p.add(field+".timeout", "want between 100ms and 30s, got %v", t)
	}
}
