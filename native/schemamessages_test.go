package native_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

type smEvent struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

type smLine struct {
	Text string `json:"text"`
}

// TestSchemaMessages checks that Register infers the message types of
// streams of messages and that Describe carries them: the body kinds, the
// message types, and the messages they reach.
func TestSchemaMessages(t *testing.T) {
	t.Parallel()
	srv := native.NewServer()
	mustRegister(t, srv, "Store.Watch", func(ctx context.Context, req *smLine, out *native.Sender[smEvent]) error { return nil })
	mustRegister(t, srv, "Log.Append", func(in *native.Receiver[smLine], resp *smEvent) error { return nil })
	mustRegister(t, srv, "Chat.Talk", func(req *smEvent, in *native.Receiver[smLine], out *native.Sender[[]smLine]) error { return nil })
	mustRegister(t, srv, "Mixed.Bytes", func(in *native.Receiver[smLine], body *io.Reader) error { return nil })
	for name, c := range localAndPipe(t, srv) {
		t.Run(name, func(t *testing.T) {
			var s native.Schema
			if err := c.Call(context.Background(), native.DescribeEndpoint, nil, &s); err != nil {
				t.Fatal(err)
			}
			eps := map[string]native.Endpoint{}
			for _, ep := range s.Endpoints {
				eps[ep.Name] = ep
			}
			msg := func(name string) *native.Type { return &native.Type{Kind: native.KindMessage, Message: name} }
			want := map[string]native.Endpoint{
				"Store.Watch": {Name: "Store.Watch", Request: native.BodyJSON, Response: native.BodyMessages, RequestType: msg("native_test.smLine"), ResponseMessage: msg("native_test.smEvent")},
				"Log.Append":  {Name: "Log.Append", Request: native.BodyMessages, Response: native.BodyJSON, ResponseType: msg("native_test.smEvent"), RequestMessage: msg("native_test.smLine")},
				"Chat.Talk": {Name: "Chat.Talk", Request: native.BodyJSONMessages, Response: native.BodyMessages, RequestType: msg("native_test.smEvent"),
					RequestMessage: msg("native_test.smLine"), ResponseMessage: &native.Type{Kind: native.KindList, Elem: msg("native_test.smLine")}},
				"Mixed.Bytes": {Name: "Mixed.Bytes", Request: native.BodyMessages, Response: native.BodyStream, RequestMessage: msg("native_test.smLine")},
			}
			for name, w := range want {
				got, _ := json.Marshal(eps[name])
				wj, _ := json.Marshal(w)
				if string(got) != string(wj) {
					t.Errorf("%s:\n got %s\nwant %s", name, got, wj)
				}
			}
			if m := s.Messages["native_test.smEvent"]; m == nil || len(m.Fields) != 2 {
				t.Errorf("message smEvent: %+v", m)
			}
		})
	}
}

// TestSchemaMessagesJSON checks the Schema's JSON: the new fields appear
// only on endpoints with messages, and a schema from before them decodes
// with none.
func TestSchemaMessagesJSON(t *testing.T) {
	t.Parallel()
	ep := native.Endpoint{Name: "W", Request: native.BodyNone, Response: native.BodyMessages, ResponseMessage: &native.Type{Kind: native.KindString}}
	b, err := json.Marshal(ep)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"W","request":"none","response":"messages","response_message":{"kind":"string"}}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
	var old native.Schema
	const before = `{"protocol":2,"endpoints":[{"name":"S.Get","request":"json","response":"stream","request_type":{"kind":"string"}}],"messages":{}}`
	if err := json.Unmarshal([]byte(before), &old); err != nil {
		t.Fatal(err)
	}
	if e := old.Endpoints[0]; e.RequestMessage != nil || e.ResponseMessage != nil || e.Response.HasMessages() || !e.Response.HasStream() {
		t.Fatalf("old endpoint decoded as %+v", e)
	}
	if !strings.Contains(string(native.BodyJSONMessages), "messages") || !native.BodyJSONMessages.HasJSON() || !native.BodyJSONMessages.HasStream() {
		t.Fatal("json+messages has a JSON part and a stream part")
	}
}
