package main

import (
	"fmt"
	"net/http"
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
	case s.rb != nil && !s.rb.Status().Up:
		st := s.rb.Status()
		reason = "backend unavailable"
		if st.Err != nil {
			reason += ": " + errMessage(st.Err)
		}
		reason += fmt.Sprintf(" (since %s)", st.Since.UTC().Format(time.RFC3339))
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
