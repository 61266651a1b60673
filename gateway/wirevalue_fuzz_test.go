package gateway

// The differential tests of the wire codec of plain structs (wirevalue.go)
// against the JSON path it is a shortcut of, on random plain struct types
// (wirevalue_gen_test.go), both ways:
//
//   - decoding: where wireStruct.decode accepts wire bytes, the JSON path
//     (requestJSONFromWire, then native's strict decoder, reached through
//     LocalClient.Call to a handler that keeps the request it gets) must
//     succeed with a reflect.DeepEqual struct, and its JSON must fit any
//     body limit under which maxWireFor lets the value path take it. Declines are counted: normal-form messages that
//     the JSON path takes must seldom be declined.
//   - encoding: where wireStruct.encode accepts a value, the JSON path
//     (json.Marshal, then responseWire or responseMessage) must succeed
//     with a proto.Equal message.
//
// The wire inputs are generated messages (gen_test.go), wild ones
// (wildWire), both paths' encodings of random values, mutations of them,
// and the fuzzer's tail appended or alone.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/native"
)

// wvEndpoint is the endpoint each case registers.
const wvEndpoint = "Wv.Echo"

// wvCase is one random plain struct type, served by an echo handler.
type wvCase struct {
	name string // the type, for failures
	typ  reflect.Type
	lc   *native.LocalClient
	m    *method
	vc   *valueCodecs
	got  reflect.Value // the request the handler last got
}

var (
	ctxType = reflect.TypeFor[context.Context]()
	errType = reflect.TypeFor[error]()
)

// newWVCase registers an echo handler of typ, func(ctx, *T, *T) error,
// builds its gRPC method and its value codecs as the gateway does.
func newWVCase(typ reflect.Type) (*wvCase, error) {
	c := &wvCase{name: typ.String(), typ: typ}
	pt := reflect.PointerTo(typ)
	fn := reflect.MakeFunc(reflect.FuncOf([]reflect.Type{ctxType, pt, pt}, []reflect.Type{errType}, false),
		func(args []reflect.Value) []reflect.Value {
			c.got = args[1]
			args[2].Elem().Set(args[1].Elem())
			return []reflect.Value{reflect.Zero(errType)}
		})
	srv := native.NewServer()
	if err := srv.Register(wvEndpoint, fn.Interface()); err != nil {
		return nil, err
	}
	s, err := srv.Schema()
	if err != nil {
		return nil, err
	}
	set, err := buildProtoSet(context.Background(), s, "", DefaultSchemaLimits)
	if err != nil {
		return nil, err
	}
	for _, m := range set.methods {
		if m.endpoint.Name == wvEndpoint {
			c.m = m
		}
	}
	if c.m == nil {
		return nil, fmt.Errorf("no method for %s", wvEndpoint)
	}
	b := Local(srv)
	c.lc = b.(localBackend).LocalClient
	c.vc = c.m.valuesOf(b.(valueBackend))
	return c, nil
}

// wvCases caches the cases of type seeds, for the fuzzer's many runs.
var wvCases = struct {
	sync.Mutex
	m map[uint64]*wvCase
}{m: map[uint64]*wvCase{}}

// wvCaseOf returns the case of typeSeed, nil when the server or the schema
// builder refuses its type.
func wvCaseOf(typeSeed uint64) *wvCase {
	wvCases.Lock()
	defer wvCases.Unlock()
	if c, ok := wvCases.m[typeSeed]; ok {
		return c
	}
	c, err := newWVCase(randPlainType(rand.New(rand.NewSource(int64(typeSeed))), 0))
	if err != nil {
		c = nil
	}
	if len(wvCases.m) > 4096 {
		clear(wvCases.m)
	}
	wvCases.m[typeSeed] = c
	return c
}

// wvStats counts what the checks saw.
type wvStats struct {
	types, refused, noCodec  int
	decAccepted, decDeclined int
	decBothRefuse            int // declined, and the JSON path fails too
	normal, normalDeclined   int // normal-form messages the JSON path takes, and of those declined
	encAccepted, encDeclined int
	encBothRefuse            int
	example                  string // a normal-form message declined
}

func (s *wvStats) String() string {
	return fmt.Sprintf("%d types (%d refused, %d without a codec); decode: %d accepted, %d declined (%d refused by the JSON path too), "+
		"normal form %d declined of %d; encode: %d accepted, %d declined (%d refused by the JSON path too)",
		s.types, s.refused, s.noCodec, s.decAccepted, s.decDeclined, s.decBothRefuse, s.normalDeclined, s.normal,
		s.encAccepted, s.encDeclined, s.encBothRefuse)
}

// jsonRequest is the JSON path of the request JSON js: the struct native's
// strict decoder gives the handler.
func (c *wvCase) jsonRequest(js []byte) (any, error) {
	c.got = reflect.Value{}
	req, resp := json.RawMessage(js), json.RawMessage(nil)
	if err := c.lc.Call(context.Background(), wvEndpoint, &req, &resp); err != nil {
		return nil, err
	}
	return c.got.Interface(), nil
}

// checkDecode compares the codec's decoding of wire with the JSON path's;
// normal says wire is in the normal form.
func (c *wvCase) checkDecode(t testing.TB, st *wvStats, wire []byte, normal bool) {
	t.Helper()
	got, ok := c.vc.req.decode(wire)
	js, err := c.m.requestJSONFromWire(wire)
	var want any
	if err == nil {
		want, err = c.jsonRequest(js)
	}
	switch {
	case !ok:
		st.decDeclined++
		if err != nil {
			st.decBothRefuse++
		} else if normal {
			st.normal++
			st.normalDeclined++
			if st.example == "" {
				st.example = fmt.Sprintf("%s: %q (JSON %s)", c.name, wire, js)
			}
		}
		return
	case err != nil:
		t.Fatalf("%s: decode accepts %q, the JSON path refuses it (JSON %s): %v\ndecoded: %+v", c.name, wire, js, err, deref(got))
	case !reflect.DeepEqual(got, want):
		t.Fatalf("%s: decode of %q:\nJSON path: %#v (JSON %s)\ncodec:     %#v", c.name, wire, deref(want), js, deref(got))
	case len(wire) <= maxWireFor(c.vc.req, int64(len(js))-1):
		// Under a body limit of len(js)-1 the JSON path refuses the
		// request; the value path must not take it.
		t.Fatalf("%s: the JSON of %q (%d bytes) is %d bytes, yet maxWireFor(%d) = %d\nJSON %s",
			c.name, wire, len(wire), len(js), len(js)-1, maxWireFor(c.vc.req, int64(len(js))-1), js)
	}
	st.decAccepted++
	if normal {
		st.normal++
	}
}

// checkEncode compares the codec's encoding of pv, a pointer to a value of
// c's type, with the JSON path's, and returns the JSON path's wire bytes
// (nil when it fails).
func (c *wvCase) checkEncode(t testing.TB, st *wvStats, pv reflect.Value) []byte {
	t.Helper()
	got, ok := c.vc.resp.encode(nil, pv.Interface())
	js, err := json.Marshal(pv.Interface())
	var want []byte
	if err == nil {
		want, err = c.m.responseWire(js)
		if err == errUseMessage {
			var msg *dynamicpb.Message
			if msg, err = c.m.responseMessage(js); err == nil {
				want, err = proto.Marshal(msg)
			}
		}
	}
	switch {
	case !ok:
		st.encDeclined++
		if err != nil {
			st.encBothRefuse++
		}
		return want
	case err != nil:
		t.Fatalf("%s: encode accepts %#v (%q), the JSON path refuses it (JSON %s): %v", c.name, pv.Elem(), got, js, err)
	}
	gm, gerr := unmarshalMessage(got, c.m.out)
	wm, werr := unmarshalMessage(want, c.m.out)
	switch {
	case gerr != nil || werr != nil:
		t.Fatalf("%s: encode of %#v: proto.Unmarshal of the codec's %q: %v, of the JSON path's %q: %v", c.name, pv.Elem(), got, gerr, want, werr)
	case !proto.Equal(gm, wm):
		t.Fatalf("%s: encode of %#v:\nJSON path: %v (JSON %s)\ncodec:     %v (%q)", c.name, pv.Elem(), wm, js, gm, got)
	}
	st.encAccepted++
	return want
}

// deref is *p for a non-nil pointer p, for failures.
func deref(p any) any {
	if v := reflect.ValueOf(p); v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Elem().Interface()
	}
	return p
}

// mutateWire returns a copy of b with one byte changed, or cut short.
func mutateWire(r *rand.Rand, b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	b = append([]byte(nil), b...)
	i := r.Intn(len(b))
	if r.Intn(3) == 0 {
		return b[:i]
	}
	b[i] = []byte{0, 1, 0x7f, 0x80, 0xff, byte(r.Intn(256))}[r.Intn(6)]
	return b
}

// wvRun runs the checks of one message seed on case c; tail is appended
// to wire bytes and read alone.
func wvRun(t testing.TB, st *wvStats, c *wvCase, msgSeed uint64, tail []byte) {
	t.Helper()
	r := rand.New(rand.NewSource(int64(msgSeed)))
	// Encoding random values; both paths' bytes are normal-form messages
	// to decode.
	for range 4 {
		pv := reflect.New(c.typ)
		randFill(r, pv.Elem(), 0)
		want := c.checkEncode(t, st, pv)
		if want != nil {
			c.checkDecode(t, st, want, true)
			c.checkDecode(t, st, mutateWire(r, want), false)
			c.checkDecode(t, st, concat(want, tail), false)
		}
		if got, ok := c.vc.resp.encode(nil, pv.Interface()); ok {
			c.checkDecode(t, st, got, true)
		}
	}
	// Generated and wild messages of the method's input.
	g := &gen{r: r, maxDepth: 1 + r.Intn(3)}
	m := dynamicpb.NewMessage(c.m.in)
	g.message(m, c.m.req.msg, 0)
	plain, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sorted, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	wild := wildWire(r, c.m.in, 0)
	for _, wire := range [][]byte{nil, plain, sorted} {
		c.checkDecode(t, st, wire, true)
	}
	for _, wire := range [][]byte{concat(plain, tail), wild, concat(wild, plain), concat(plain, wild), mutateWire(r, plain), tail} {
		c.checkDecode(t, st, wire, false)
	}
}

// FuzzWireValue checks the wire codec of plain structs against the JSON
// path: typeSeed picks the random struct type, msgSeed the values and
// messages; tail is appended to wire bytes and read alone.
func FuzzWireValue(f *testing.F) {
	f.Add(uint64(0), uint64(1), []byte{})
	f.Add(uint64(1), uint64(2), []byte{0x08, 0x01})
	f.Add(uint64(2), uint64(3), []byte{0x0a, 0x02, 0xff, 0xfe})
	f.Add(uint64(3), uint64(4), []byte{0x12, 0x00, 0x12, 0x00})
	f.Add(uint64(4), uint64(5), []byte{0x0d, 0, 0, 0, 0x80})
	f.Add(uint64(5), uint64(6), []byte{0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Add(uint64(6), uint64(7), []byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x10})
	f.Fuzz(func(t *testing.T, typeSeed, msgSeed uint64, tail []byte) {
		c := wvCaseOf(typeSeed)
		if c == nil || c.vc.req == nil {
			t.Skip("no wire codec for the type")
		}
		var st wvStats
		wvRun(t, &st, c, msgSeed, tail)
	})
}

// TestWireValueRandom runs the differential checks on random plain struct
// types without the fuzzer.
func TestWireValueRandom(t *testing.T) {
	seeds := 400
	if testing.Short() {
		seeds = 100
	}
	var st wvStats
	for seed := range uint64(seeds) {
		st.types++
		c := wvCaseOf(seed)
		switch {
		case c == nil:
			st.refused++
			continue
		case c.vc.req == nil:
			st.noCodec++
			continue
		}
		tail := seedTail(rand.New(rand.NewSource(int64(seed))), seed, c.m.in)
		for k := range uint64(3) {
			wvRun(t, &st, c, seed*3+k, tail)
		}
	}
	t.Log(&st)
	if st.example != "" {
		t.Logf("a normal-form message declined: %s", st.example)
	}
	if st.decAccepted == 0 || st.decDeclined == 0 || st.encAccepted == 0 || st.encDeclined == 0 {
		t.Errorf("a side of the comparison is never exercised: %v", &st)
	}
	if st.normalDeclined*10 > st.normal {
		t.Errorf("decode declines %d of %d normal-form messages the JSON path takes: the shortcut is seldom taken", st.normalDeclined, st.normal)
	}
	if (st.refused+st.noCodec)*2 > st.types {
		t.Errorf("%d of %d random plain types get no wire codec (%d refused by the server or the builder)", st.refused+st.noCodec, st.types, st.refused)
	}
}
