package config

// TLS makes blobvalet serve HTTPS itself, with a certificate and key in PEM
// files. Both files are read again on SIGHUP, so a renewed certificate
// takes effect without a restart.
type TLS struct {
	// CertFile is the certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the certificate's private key.
	KeyFile string `yaml:"key_file"`
}

func (t *TLS) complete(p *problems) {
	if t.CertFile == "" {
		p.add("tls.cert_file", "required: the PEM file with the certificate chain, leaf first")
	}
	if t.KeyFile == "" {
		p.add("tls.key_file", "required: the PEM file with the certificate's private key")
	}
}
