package native_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/framegate/framegate/internal/jsontest"
	"github.com/framegate/framegate/native"
)

// strictReq is a request with the shapes strictness cares about: a tagged
// and an untagged field, a nested struct, a list of structs, a map, a
// pointer and a time.
type strictReq struct {
	Name  string         `json:"name"`
	Plain int            // JSON name "Plain"
	Inner strictInner    `json:"inner"`
	List  []strictInner  `json:"list,omitempty"`
	Tags  map[string]int `json:"tags,omitempty"`
	Opt   *int64         `json:"opt,omitempty,string"`
	When  time.Time      `json:"when"`
	Raw   []byte         `json:"raw,omitempty"`
}

type strictInner struct {
	A int `json:"a"`
}

// Requests are read by one strict rule over the wire and in process: an
// unknown or wrong-case member, or a duplicate one, is INVALID_ARGUMENT
// naming it, and the handler never runs. Responses stay lenient.
func TestStrictRequestJSON(t *testing.T) {
	srv := native.NewServer()
	var ran atomic.Int64
	if err := srv.Register("S.Put", func(r *strictReq, resp *struct {
		Name  string `json:"name"`
		Extra string `json:"extra"`
	}) error {
		ran.Add(1)
		resp.Name, resp.Extra = r.Name, "added by a newer server"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clients := localAndPipe(t, srv)

	cases := []struct{ body, want string }{
		{`{"name":"x","Plain":1,"inner":{"a":1},"list":[{"a":2}],"tags":{"k":1},"opt":"5","when":"2026-01-02T03:04:05Z"}`, ""},
		{`{"name":"x","extra":1}`, `unknown field "extra"`},
		{`{"Name":"x"}`, `unknown field "Name"`},
		{`{"plain":1}`, `unknown field "plain"`},
		{`{"inner":{"a":1,"b":2}}`, `unknown field "b" in /inner`},
		{`{"list":[{"a":1},{"A":1}]}`, `unknown field "A" in /list/1`},
		{`{"name":"x","name":"y"}`, `duplicate field "name"`},
		{`{"tags":{"k":1,"k":2}}`, `duplicate field "k" in /tags`},
		{`{"inner":{"a":"1"}}`, `at /inner/a: a string cannot be a Go int`},
		{`{"name":"\ud800"}`, `surrogate`},
		{`{"` + strings.Repeat("x", 100_000) + `":1}`, `unknown field "xxxx`},
	}
	for name, cl := range clients {
		for _, tc := range cases {
			raw := json.RawMessage(tc.body)
			for _, req := range []any{raw, &raw} { // both go as they are
				before := ran.Load()
				var out struct {
					Name string `json:"name"` // the response's "extra" is ignored
				}
				err := cl.Call(context.Background(), "S.Put", req, &out)
				if tc.want == "" {
					if err != nil || out.Name != "x" {
						t.Errorf("%s: %T %.80s: got %+v, %v; want the name back", name, req, tc.body, out, err)
					}
					continue
				}
				if native.CodeOf(err) != native.CodeInvalidArgument || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 512 {
					t.Errorf("%s: %T %.80s: got %v, want INVALID_ARGUMENT saying %q", name, req, tc.body, err, tc.want)
				}
				if ran.Load() != before {
					t.Errorf("%s: %T %.80s: the handler ran", name, req, tc.body)
				}
			}
		}
	}
}

// FuzzRequestJSON checks the strict rule against encoding/json's: strict
// is a subset. What it accepts, encoding/json reads to the same value;
// what it refuses has an unknown or duplicate member, a wrong case, bad
// UTF-8, or encoding/json refuses it too.
func FuzzRequestJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"name":"x","Plain":1}`, `{"NAME":"x"}`, `{"name":"x","name":"x"}`,
		`{"inner":{"a":1,"a":1}}`, `{"list":[{"a":1},{"b":1}]}`, `{"tags":{"a":1,"A":2}}`,
		`{"opt":"12"}`, `{"opt":12}`, `{"when":"2026-13-01T00:00:00Z"}`, `{"raw":"AAE="}`,
		`{"name":"\u00e9\ud83d\ude00"}`, `{"name":"\udc00"}`, "{\"name\":\"\xc3\"}", `{"inner":null,"list":null}`,
		`[]`, `{"name":"x"} {}`, `{"name":1e999}`, `{"Plain":-0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var strict, loose strictReq
		serr := native.DecodeRequest("S.Put", data, &strict)
		lerr := json.Unmarshal(data, &loose)
		if serr != nil {
			if native.CodeOf(serr) != native.CodeInvalidArgument || len(serr.Error()) > 600 {
				t.Fatalf("%q: %v: want a short INVALID_ARGUMENT", data, serr)
			}
			return
		}
		if lerr != nil {
			t.Fatalf("%q: strict accepts what encoding/json refuses: %v", data, lerr)
		}
		if !reflect.DeepEqual(strict, loose) {
			t.Fatalf("%q: strict read %+v, encoding/json %+v", data, strict, loose)
		}
		var exact strictReq
		d := json.NewDecoder(bytes.NewReader(data))
		d.DisallowUnknownFields()
		if err := d.Decode(&exact); err != nil && strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("%q: strict accepts an unknown field: %v", data, err)
		}
		if dup := jsontest.DuplicateName(data); dup != "" {
			t.Fatalf("%q: strict accepts the duplicate member %q", data, dup)
		}
	})
}

// The strict rule against encoding/json's, on the same request, in the
// same run.
func BenchmarkDecodeRequest(b *testing.B) {
	body := []byte(`{"name":"reports/2026/q4.csv","Plain":42,"inner":{"a":7},"list":[{"a":1},{"a":2},{"a":3}],"tags":{"owner":1,"team":2},"opt":"9007199254740993","when":"2026-12-03T06:08:23.123456789Z"}`)
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var r strictReq
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strict", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var r strictReq
			if err := native.DecodeRequest("S.Put", body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
