package native_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

// An unknown endpoint's name and a bad request body are quoted short in
// the error, over the wire and through the local client alike.
func TestErrorsQuoteLittle(t *testing.T) {
	srv := native.NewServer()
	type req struct {
		N int64 `json:"n"`
	}
	if err := srv.Register("Q.Num", func(r *req, resp *req) error { *resp = *r; return nil }); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("m", 60_000)
	digits := `{"n":1` + strings.Repeat("9", 99_999) + `}`
	clients := localAndPipe(t, srv)
	for name, cl := range clients {
		var out req
		err := cl.Call(context.Background(), long, nil, &out)
		if native.CodeOf(err) != native.CodeUnimplemented || !strings.Contains(err.Error(), "(60000 bytes)") || len(err.Error()) > 512 {
			t.Errorf("%s: an unknown endpoint of 60 KB: %d bytes of error: %.200v", name, len(err.Error()), err)
		}
		err = cl.Call(context.Background(), "Q.Num", json.RawMessage(digits), &out)
		if native.CodeOf(err) != native.CodeInvalidArgument || len(err.Error()) > 512 {
			t.Errorf("%s: a 100,000-digit number: %d bytes of error: %.200v", name, len(err.Error()), err)
		}
	}
}
