package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA and the certificates it signed, as PEM files.
type testPKI struct {
	ca                    string
	serverCert, serverKey string // 127.0.0.1 and localhost; server and client use
	clientCert, clientKey string
	otherCert, otherKey   string // signed by another CA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caDER := newCA(t, "gw test CA")
	p := &testPKI{ca: writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue(t, dir, "server", caCert, caKey, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	p.clientCert, p.clientKey = issue(t, dir, "client", caCert, caKey, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	otherKey, otherCA, _ := newCA(t, "another CA")
	p.otherCert, p.otherKey = issue(t, dir, "other", otherCA, otherKey, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	return p
}

func newCA(t *testing.T, name string) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

var serial int64 = 10

func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage []x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Mutual TLS everywhere: a gw backend that requires client certificates,
// a gw serve that reaches it over tls:// with its own certificate and
// requires client certificates on its gRPC and HTTP listeners; grpcurl,
// curl and gw call with and without a valid client certificate.
func TestMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "a.txt"), []byte("over TLS\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsArgs := []string{"-tls-cert", p.serverCert, "-tls-key", p.serverKey, "-client-ca", p.ca}
	backend := startGW(t, "gw backend", nil, append([]string{"backend", "-native-addr", "127.0.0.1:0", "-data-dir", dataDir}, tlsArgs...)...)
	nativeAddr := backend.addr("native")
	if l := backend.waitLog(time.Second, "listening", msgIs("listening")); l["tls"] != true {
		t.Errorf("backend listening line %v", l)
	}
	gw := startGW(t, "gw serve", nil, append([]string{"serve", "-backend", "tls://" + nativeAddr, "-backend-ca", p.ca,
		"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", ""}, tlsArgs...)...)
	grpcAddr, httpAddr := gw.addr("grpc"), gw.addr("http")
	gw.waitLog(5*time.Second, "backend connected", msgIs("gateway: backend connected"))

	t.Run("grpcurl", func(t *testing.T) {
		out := grpcurl(t, "-cacert", p.ca, "-cert", p.clientCert, "-key", p.clientKey, "-d", `{"name":"a.txt"}`, grpcAddr, "native.Store/Stat")
		if !strings.Contains(out, `"size": "9"`) {
			t.Errorf("Stat over mTLS: %s", out)
		}
		grpcurlFails(t, "-cacert", p.ca, grpcAddr, "list")
		grpcurlFails(t, "-cacert", p.ca, "-cert", p.otherCert, "-key", p.otherKey, grpcAddr, "list")
		grpcurlFails(t, "-plaintext", grpcAddr, "list")
	})
	t.Run("curl", func(t *testing.T) {
		needCurl(t)
		out, code := curl(t, "--cacert", p.ca, "--cert", p.clientCert, "--key", p.clientKey, "https://"+httpAddr+"/healthz")
		if code != 0 || out != "SERVING\n" {
			t.Errorf("/healthz over mTLS: %d %q", code, out)
		}
		if _, code := curl(t, "--cacert", p.ca, "https://"+httpAddr+"/healthz"); code == 0 {
			t.Error("/healthz answered a client without a certificate")
		}
	})
	t.Run("gw call", func(t *testing.T) {
		out, errOut, code := gwCall(t, nil, "-addr", "tls://"+nativeAddr, "-ca", p.ca, "-cert", p.clientCert, "-key", p.clientKey, "Store.Read", `{"name":"a.txt"}`)
		if code != 0 || out != "over TLS\n" {
			t.Errorf("gw call over mTLS: %d %q %s", code, out, errOut)
		}
		_, errOut, code = gwCall(t, nil, "-addr", "tls://"+nativeAddr, "-ca", p.ca, "-list")
		if code != 1 || !strings.HasPrefix(errOut, "gw call: Unavailable: ") {
			t.Errorf("gw call without a client certificate: %d %q", code, errOut)
		}
	})

	stopGracefully(t, gw, backend)
}

// -native-tls puts the embedded store's native listener behind TLS too.
func TestNativeTLSListener(t *testing.T) {
	p := newTestPKI(t)
	gw := startGW(t, "gw serve", nil, "serve", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0", "-native-addr", "127.0.0.1:0",
		"-data-dir", t.TempDir(), "-tls-cert", p.serverCert, "-tls-key", p.serverKey, "-native-tls")
	nativeAddr := gw.addr("native")
	out, errOut, code := gwCall(t, nil, "-addr", "tls://"+nativeAddr, "-ca", p.ca, "-list")
	if code != 0 || !strings.Contains(out, "Store.Write") {
		t.Fatalf("gw call -list over TLS: %d %s%s", code, out, errOut)
	}
	if _, _, code := gwCall(t, nil, "-addr", "tcp://"+nativeAddr, "-timeout", "2s", "-list"); code == 0 {
		t.Error("a plain-text native client was served by the TLS listener")
	}
	out = grpcurl(t, "-cacert", p.ca, gw.addr("grpc"), "list")
	if !strings.Contains(out, "native.Store") {
		t.Errorf("grpcurl over TLS: %s", out)
	}
}
