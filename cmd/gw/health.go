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
	case len(s.rbs) > 0 && s.allBackendsDown():
		var why []string
		for _, nr := range s.rbs {
			st := nr.rb.Status()
			w := ""
			if len(s.rbs) > 1 {
				w = nr.name + ": "
			}
			if st.Err != nil {
				w += errMessage(st.Err) + " "
			}
			why = append(why, w+fmt.Sprintf("(since %s)", st.Since.UTC().Format(time.RFC3339)))
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

// allBackendsDown reports whether no remote backend is up: the gateway
// serves nothing then. While one of several is up, it serves that one's
// services, and the others' fail with UNAVAILABLE.
func (s *server) allBackendsDown() bool {
	for _, nr := range s.rbs {
		if nr.rb.Status().Up {
			return false
		}
	}
	return true
}
