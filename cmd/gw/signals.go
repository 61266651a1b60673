package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// notifySignals delivers SIGINT and SIGTERM on the returned channel: the
// first starts a graceful shutdown, a second one cuts it short. stop
// restores the default behaviour.
func notifySignals() (sigs <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// notifyHUP delivers SIGHUP, which reloads the configuration (reload.go),
// instead of ending the process.
func notifyHUP() (hup <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// startupContext returns a context that the first signal on sigs cancels,
// for the work of starting up (describing a backend, building its
// descriptors). end stops watching sigs and returns the signal that
// cancelled ctx, or nil.
func startupContext(sigs <-chan os.Signal) (ctx context.Context, end func() os.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case sig := <-sigs:
			got <- sig
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() os.Signal {
		cancel()
		<-done
		select {
		case sig := <-got:
			return sig
		default:
			return nil
		}
	}
}

// shutdown stops accepting calls, waits for those in flight until
// -shutdown-timeout (or a second signal), cancels the rest, and releases
// the backend.
func (s *server) shutdown(sigs <-chan os.Signal) {
	start := time.Now()
	s.draining.Store(true)
	s.g.Drain() // NOT_SERVING, and no reconnect may turn it back
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(s.shutdownTimeout.Load()))
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case sig := <-sigs:
			s.log.Warn("second signal: cancelling the calls in flight", "signal", sig.String())
			cancel()
		case <-done:
		}
	}()
	var forced atomic.Bool
	var wg sync.WaitGroup
	httpStopped := make(chan struct{})
	wg.Go(func() {
		if s.onePort {
			// The gRPC calls are the http.Server's requests
			// (ServeHTTP): it drains them, and GracefulStop would
			// cancel them at once.
			<-httpStopped
		}
		stopped := make(chan struct{})
		go func() {
			s.grpcSrv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			forced.Store(true)
			s.grpcSrv.Stop()
			<-stopped
		}
	})
	wg.Go(func() {
		defer close(httpStopped)
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			forced.Store(true)
			s.cancelBase()
			s.httpSrv.Close()
		}
	})
	if s.nativeL != nil {
		wg.Go(func() {
			if err := s.nsrv.Shutdown(ctx); err != nil {
				forced.Store(true)
			}
		})
	}
	wg.Wait()
	s.cancelBase()
	s.closeBackend()
	s.log.Info("stopped", "took", time.Since(start), "cancelled_calls", forced.Load())
}
