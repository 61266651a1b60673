package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

// BenchmarkRESTMessages streams small messages (about 100 bytes of JSON)
// from a local backend through the REST front door, as NDJSON and as SSE,
// read line by line by a Go client: messages/s is the figure.
func BenchmarkRESTMessages(b *testing.B) {
	srv := native.NewServer()
	text := strings.Repeat("m", 80)
	if err := srv.Register("Bench.Watch", func(req *msWatch, out *native.Sender[msTick]) error {
		for i := range req.Count {
			if err := out.Send(&msTick{Seq: int64(i), Text: text}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	g, err := New(context.Background(), Local(srv))
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(g.HTTPHandler())
	defer hs.Close()
	const n = 10000
	for _, accept := range []string{"application/x-ndjson", "text/event-stream"} {
		b.Run(strings.TrimPrefix(accept, "application/"), func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, hs.URL+"/native.Bench/Watch", strings.NewReader(fmt.Sprintf(`{"count":%d}`, n)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", accept)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				sc := bufio.NewScanner(resp.Body)
				got := 0
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), `{"result"`) || strings.HasPrefix(sc.Text(), "data: {\"seq\"") {
						got++
					}
				}
				resp.Body.Close()
				if got != n {
					b.Fatalf("%d messages, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
