// Package tlsconfig holds the server's certificate: it loads the pair from
// PEM files, checks it, serves it to each new connection, and loads it
// again on Reload, so that a renewed certificate takes effect without a
// restart. A pair that fails its checks on reload leaves the current one in
// place.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// Certificate is the server's certificate, reloadable.
type Certificate struct {
	certFile, keyFile string
	now               func() time.Time
	current           atomic.Pointer[tls.Certificate]
}

// Load reads and checks the pair in certFile and keyFile: both readable,
// the key the certificate's, the certificate valid at now().
func Load(certFile, keyFile string, now func() time.Time) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile, now: now}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. New connections get the new certificate;
// on error the current one stays.
func (c *Certificate) Reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("tls: certificate %s: %w", c.certFile, err)
		}
	}
	leaf := pair.Leaf
	now := c.now()
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("tls: certificate %s expired on %s: renew it", c.certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("tls: certificate %s is valid only from %s: check the clock, or use the current certificate", c.certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	c.current.Store(&pair)
	return nil
}

// Leaf returns the certificate served now.
func (c *Certificate) Leaf() *x509.Certificate { return c.current.Load().Leaf }

// Config returns the server TLS configuration: TLS 1.2 at least, and the
// current certificate for each new connection.
func (c *Certificate) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}
