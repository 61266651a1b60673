package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// serverTLS returns the TLS configuration of a listener: nil without a
// certificate; with clientCA, clients must present a certificate it signed.
func serverTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if clientCA != "" {
			return nil, fmt.Errorf("-client-ca needs -tls-cert and -tls-key")
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("-tls-cert and -tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pool, err := loadCAs(clientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// clientTLS returns the TLS configuration of a client: the server is
// verified against caFile (the system's roots if empty) for serverName; a
// client certificate is presented if certFile is set.
func clientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadCAs(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, fmt.Errorf("a client certificate needs both its certificate and its key")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA certificates: no PEM certificate in %s", file)
	}
	return pool, nil
}

// tlsReloader is the TLS configuration of gw serve's listeners, which a
// reload replaces: each handshake takes the configuration loaded last
// (certificate, key and client CAs), with the listener's ALPN protocols.
type tlsReloader struct {
	cur atomic.Pointer[tls.Config]
}

func newTLSReloader(cfg *tls.Config) *tlsReloader {
	r := &tlsReloader{}
	r.cur.Store(cfg)
	return r
}

// replace makes cfg the configuration of the handshakes from now on.
func (r *tlsReloader) replace(cfg *tls.Config) { r.cur.Store(cfg) }

// listener returns the configuration of a listener that negotiates
// nextProtos (none: the server's own, as grpc-go's credentials add "h2").
func (r *tlsReloader) listener(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := r.cur.Load().Clone()
			c.NextProtos = nextProtos
			return c, nil
		},
	}
}
