package main

// Reloading gw serve's configuration without dropping calls: on SIGHUP,
// and when the -config file or a file it names (the TLS certificate, key
// and CAs, the token file) changes, gw serve reads its configuration again
// (the same command line and environment, the file as it is now) and
// applies it:
//   - the TLS certificate, key and client CAs: new handshakes use them;
//   - the tokens (-auth-token-file, -auth-metrics): checked from the next
//     call on;
//   - -max-calls of the gRPC and HTTP listeners, -log-level,
//     -shutdown-timeout, -reload-interval;
//   - the backends (-backend, -backend-precedence, and the settings of
//     remote backends): a backend whose value and settings did not change
//     keeps running; a new one is connected and described; one removed
//     gets no new calls, and is closed once its calls in flight end.
// What a running server cannot change (the listen addresses, turning TLS or
// tokens on or off, the embedded store, the other limits) takes a restart:
// a configuration that changes it is refused, naming what changed. Any
// configuration that fails to load (a bad file, a certificate that does not
// load, two backends serving one service) is refused with a log line, and
// the one loaded before keeps serving.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/framegate/framegate/gateway"
	"github.com/framegate/framegate/native"
)

// reloadable are the flags a reload applies; a change of any other takes a
// restart.
var reloadable = map[string]bool{
	"log-level": true, "shutdown-timeout": true, "reload-interval": true,
	"tls-cert": true, "tls-key": true, "client-ca": true,
	"auth-token-file": true, "auth-metrics": true, "max-calls": true,
	"backend": true, "backend-precedence": true,
	"pool-size": true, "backend-ca": true, "probe-interval": true, "reconnect-max": true, "resolve-interval": true,
}

// backendSettings are the flags every remote backend is built with: a
// change of one rebuilds them all.
var backendSettings = []string{"pool-size", "backend-ca", "probe-interval", "reconnect-max", "resolve-interval", "tls-cert", "tls-key", "native-tls"}

// loaded is what a configuration's files hold, as load read them.
type loaded struct {
	tls    *tls.Config // nil without -tls-cert
	tokens *tokenAuth  // nil without -auth-token-file
}

// load checks a configuration as gw serve would start it, without
// serving: the limits, the log settings, the addresses, the TLS files, the
// token file and the -backend values (gw config check, and a reload, which
// serves what it read). log receives the token file's warnings.
func (f *serveFlags) load(log *slog.Logger) (*loaded, error) {
	if err := f.securityFlags.check(); err != nil {
		return nil, err
	}
	if _, err := newLogger(io.Discard, f.logLevel, f.logFormat); err != nil {
		return nil, err
	}
	for _, a := range []struct{ flag, addr string }{{"grpc-addr", f.grpcAddr}, {"http-addr", f.httpAddr}, {"native-addr", f.nativeAddr}} {
		if err := checkListenAddr(a.addr); err != nil && (a.flag != "native-addr" || a.addr != "") {
			return nil, fmt.Errorf("-%s %q: %v", a.flag, clipValue(a.addr), err)
		}
	}
	var l loaded
	var err error
	if l.tls, err = serverTLS(f.tlsCert, f.tlsKey, f.clientCA); err != nil {
		return nil, err
	}
	if f.nativeTLS && l.tls == nil {
		return nil, errors.New("-native-tls needs -tls-cert and -tls-key")
	}
	if f.authTokenFile != "" {
		if l.tokens, err = loadTokens(f.authTokenFile, log); err != nil {
			return nil, err
		}
	}
	if f.poolSize < 1 {
		return nil, fmt.Errorf("-pool-size %d: want at least 1", f.poolSize)
	}
	for _, v := range f.backends {
		if err := checkBackend(f, v); err != nil {
			return nil, err
		}
	}
	return &l, nil
}

// checkListenAddr checks the form of a listen address: host:port or
// unix:///path.
func checkListenAddr(addr string) error {
	if strings.HasPrefix(addr, "unix:") {
		_, err := native.ParseTarget(addr)
		return err
	}
	_, _, err := net.SplitHostPort(addr)
	return err
}

// reload reads the configuration again and applies it (see the file
// comment); why says what asked for it, for the log.
func (s *server) reload(why string) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	changed, err := s.reloadLocked()
	if err != nil {
		s.m.reloads.WithLabelValues("refused").Inc()
		s.log.Error("configuration reload refused; the configuration loaded before keeps serving", "trigger", why, "err", err)
		return
	}
	s.m.reloads.WithLabelValues("applied").Inc()
	s.log.Info("configuration reloaded", "trigger", why, "changed", changed)
}

// reloadLocked loads and applies the configuration; s.reloadMu is held.
// Everything that can fail is done before anything is changed.
func (s *server) reloadLocked() ([]string, error) {
	var usage bytes.Buffer
	nf, nc, err := parseServe(s.args, &stdio{out: io.Discard, err: &usage, env: s.sio.env})
	if err != nil {
		if usage.Len() > 0 {
			err = errors.New(strings.TrimSpace(usage.String()))
		}
		return nil, err
	}
	files, err := nf.load(s.log)
	if err != nil {
		return nil, err
	}
	old, oc := s.live, s.liveCmd
	changed := changedFlags(oc, nc)
	var restart []string
	for _, name := range changed {
		if !reloadable[name] {
			restart = append(restart, "-"+name)
		}
	}
	switch {
	case (old.tlsCert == "") != (nf.tlsCert == ""):
		restart = append(restart, "TLS turned on or off")
	case (old.authTokenFile == "") != (nf.authTokenFile == ""):
		restart = append(restart, "tokens turned on or off")
	case (len(old.backends) == 0) != (len(nf.backends) == 0):
		restart = append(restart, "the embedded store turned on or off")
	}
	if len(restart) > 0 {
		return nil, fmt.Errorf("changed: %s: it takes a restart", strings.Join(restart, ", "))
	}

	if s.router != nil { // the one step that may still fail
		if err := s.updateBackends(nf, old, changed); err != nil {
			return nil, err
		}
	}

	// Apply what cannot fail.
	level, _ := parseLevel(nf.logLevel) // load checked it
	s.level.Set(level)
	if s.tls != nil {
		s.tls.replace(files.tls)
	}
	if files.tokens != nil {
		s.guard.auth.replace(files.tokens)
	}
	s.guard.setLimits(&nf.securityFlags)
	s.live, s.liveCmd = nf, nc
	s.shutdownTimeout.Store(int64(nf.shutdownTimeout))
	if len(changed) == 0 {
		changed = []string{} // the files named may have changed
	}
	return changed, nil
}

// updateBackends builds the backends of nf (keeping those whose value and
// settings did not change) and has the router serve them; if that fails,
// the router serves what it did and the new backends are closed.
func (s *server) updateBackends(nf, old *serveFlags, changed []string) error {
	keep := s.entries()
	if slices.ContainsFunc(backendSettings, func(n string) bool { return slices.Contains(changed, n) }) {
		keep = nil // every backend is built again with the new settings
	}
	entries, err := s.remoteEntries(nf, keep, s.sio)
	if err != nil {
		return err
	}
	if slices.Equal(entries, s.entries()) && nf.backendPrecedence == old.backendPrecedence {
		return nil // the same backends
	}
	ctx, cancel := context.WithTimeout(s.baseCtx, gateway.DefaultDialTimeout)
	err = s.router.Update(ctx, named(entries), gateway.RouterOptions{Precedence: nf.backendPrecedence, Logger: s.log})
	cancel()
	if err != nil {
		for _, e := range entries {
			if !slices.Contains(keep, e) {
				e.close()
			}
		}
		return fmt.Errorf("-backend: %w", err)
	}
	s.backends.Store(&entries) // the router closes those it removed
	return nil
}

// changedFlags returns the names of the flags whose values differ between
// two parses of gw serve's flags.
func changedFlags(a, b *command) []string {
	var out []string
	a.fs.VisitAll(func(fa *flag.Flag) {
		if fb := b.fs.Lookup(fa.Name); fb == nil || fb.Value.String() != fa.Value.String() {
			out = append(out, fa.Name)
		}
	})
	return out
}

// watchedFiles are the files of a configuration whose change reloads it.
func (f *serveFlags) watchedFiles() []string {
	var out []string
	for _, p := range []string{f.configFile, f.tlsCert, f.tlsKey, f.clientCA, f.authTokenFile, f.backendCA} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// filesDigest is a digest of the contents of files: a file that cannot be
// read counts as its error, so that it coming back is a change too.
func filesDigest(files []string) [sha256.Size]byte {
	h := sha256.New()
	for _, p := range files {
		fmt.Fprintf(h, "%d:%s\x00", len(p), p)
		data, err := readCapped(p, maxConfigSize)
		if err != nil {
			fmt.Fprintf(h, "error:%v\x00", err)
			continue
		}
		fmt.Fprintf(h, "%d:", len(data))
		h.Write(data)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// readCapped reads at most max bytes of a file.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// watch reloads the configuration on SIGHUP (hup) and when the files it
// names change (checked every -reload-interval), until stop is closed.
func (s *server) watch(hup <-chan os.Signal, stop <-chan struct{}) {
	digest := func() [sha256.Size]byte {
		s.reloadMu.Lock()
		files := s.live.watchedFiles()
		s.reloadMu.Unlock()
		return filesDigest(files)
	}
	last := digest()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.reloadMu.Lock()
		every := s.live.reloadInterval
		s.reloadMu.Unlock()
		t.Stop()
		var tick <-chan time.Time
		if every > 0 {
			t.Reset(every)
			tick = t.C
		}
		select {
		case <-stop:
			return
		case <-hup:
			// The files as they were before the reload read them: a change
			// while it runs is seen at the next tick.
			last = digest()
			s.reload("SIGHUP")
		case <-tick:
			if d := digest(); d != last {
				last = d
				s.reload("file changed")
			}
		}
	}
}
