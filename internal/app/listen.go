package app

import (
	"crypto/tls"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/blobvalet/blobvalet/config"
	"github.com/blobvalet/blobvalet/tlsconfig"
)

// secureListener loads the certificate when the configuration has tls:
// and returns what serves TLS on a listener, and what reloads the
// certificate (on SIGHUP). Without tls:, a listen address that is not
// loopback gets a warning: bearer tokens would cross the network in clear.
func secureListener(cfg *config.Config, log *zap.Logger) (func(net.Listener) net.Listener, func(), error) {
	plain := func(ln net.Listener) net.Listener { return ln }
	if cfg.TLS == nil {
		if !LoopbackListen(cfg.Listen) {
			log.Warn("serving plain HTTP on a non-loopback address: bearer tokens and SAS URIs cross the network in clear unless a reverse proxy in front terminates TLS; set tls: {cert_file, key_file} or listen on 127.0.0.1 behind the proxy",
				zap.String("listen", cfg.Listen))
		}
		return plain, func() {}, nil
	}
	cert, err := tlsconfig.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, time.Now)
	if err != nil {
		return nil, nil, err
	}
	log.Info("serving HTTPS", certFields(cert)...)
	reload := func() {
		if err := cert.Reload(); err != nil {
			log.Error("certificate not reloaded; the previous one stays in force", zap.Error(err))
			return
		}
		log.Info("certificate reloaded", certFields(cert)...)
	}
	return func(ln net.Listener) net.Listener { return tls.NewListener(ln, cert.Config()) }, reload, nil
}

func certFields(c *tlsconfig.Certificate) []zap.Field {
	leaf := c.Leaf()
	return []zap.Field{
		zap.String("subject", leaf.Subject.String()),
		zap.String("serial", leaf.SerialNumber.Text(16)),
		zap.Time("not_after", leaf.NotAfter.UTC()),
	}
}

// LoopbackListen reports whether a listen address (host:port) accepts only
// connections from this machine.
func LoopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
