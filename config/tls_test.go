package config

import "testing"

func TestTLS(t *testing.T) {
	cfg, err := Parse([]byte(minimal+"tls: {cert_file: /etc/blobvalet/tls.crt, key_file: /etc/blobvalet/tls.key}\n"), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.CertFile != "/etc/blobvalet/tls.crt" || cfg.TLS.KeyFile != "/etc/blobvalet/tls.key" {
		t.Errorf("tls %+v", cfg.TLS)
	}
	if cfg, _ := Parse([]byte(minimal), goodEnv); cfg.TLS != nil {
		t.Error("tls set without the section")
	}
	_, err = Parse([]byte(minimal+"tls: {cert_file: /etc/blobvalet/tls.crt}\n"), goodEnv)
	checkErr(t, err, "tls.key_file: required: the PEM file with the certificate's private key")
	_, err = Parse([]byte(minimal+"tls: {}\n"), goodEnv)
	checkErr(t, err, "tls.cert_file: required")
}
