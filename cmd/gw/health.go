package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthz answers 200 while the gateway serves, 503 with the reason
// otherwise.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	reason := ""
	switch {
	case s.draining.Load():
		reason = "shutting down"
	case len(s.entries()) > 0 && s.allBackendsDown():
		entries := s.entries()
		var why []string
		for _, b := range entries {
			reps := b.replicas()
			if len(reps) == 0 {
				why = append(why, b.name+": no replica (its name resolved to no address yet)")
			}
			for _, r := range reps {
				w := ""
				if len(entries) > 1 || r.name != b.name {
					w = r.name + ": "
				}
				if r.status.Err != nil {
					w += errMessage(r.status.Err) + " "
				}
				why = append(why, w+fmt.Sprintf("(since %s)", r.status.Since.UTC().Format(time.RFC3339)))
			}
		}
		reason = "backend unavailable: " + strings.Join(why, "; ")
	default:
		resp, err := s.g.Health().Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			reason = err.Error()
		} else if resp.Status != healthpb.HealthCheckResponse_SERVING {
			reason = resp.Status.String()
		}
	}
	if reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "NOT_SERVING: %s\n", reason)
		return
	}
	fmt.Fprintln(w, "SERVING")
}

// allBackendsDown reports whether no process of any remote backend takes
// calls: the gateway serves nothing then. While one of several is up, it
// serves that one's services, and the others' fail with UNAVAILABLE.
func (s *server) allBackendsDown() bool {
	for _, b := range s.entries() {
		if b.up() {
			return false
		}
	}
	return true
}
