package gateway

// The differential tests of the direct transcoders (wirejson.go and
// jsonwire.go) against the message path they replace on the gRPC face,
// on random messages of random schemas (randschema_test.go) and of the
// hand-written ones, both ways:
//
//   - wire -> JSON: appendJSONFromWire must succeed exactly when the
//     message path does (unknownInWire, then proto.Unmarshal into a
//     dynamicpb message, then the encoder) and then write the same bytes;
//     an unknown field is refused in unknownInWire's words.
//   - JSON -> wire: appendWireFromJSON, under the strict and the lenient
//     rule, must succeed exactly when jsonReader does, and its bytes must
//     decode to the message jsonReader builds (proto.Equal). errUseMessage
//     (the caller takes the message path) is counted, not compared.
//
// The same holds for the bare values of synthesized <Method>Request and
// <Method>Response messages (appendFieldJSONFromWire through
// requestJSONFromWire, appendFieldWireFromJSON).
//
// The wire inputs are messages of the generator in gen_test.go (the normal
// form, marshaled plainly and deterministically), wild ones (wildWire: any
// field any number of times, packed or not, values outside the normal form,
// now and then an unknown field, a wrong wire type or bad UTF-8), the
// direct transcoder's own output, and those with bytes appended: proto
// reads a concatenation as a merge, so an appended message overrides,
// merges and adds. The JSON inputs are the encoder's output for those
// messages and mutations of it (a value replaced by another of the
// document or by an odd one, a member dropped, doubled, or added), plus
// the fuzzer's bytes.

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/json/jsontext"
	"fmt"
	"maps"
	"math"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/framegate/framegate/native"
)

// diffSchema is a built schema under test.
type diffSchema struct {
	name   string // its seed and its JSON, for failures
	set    *protoSet
	codecs []*messageCodec // its messages, by name
	// values are the methods whose request or response is a bare value.
	values []*method
}

// fixedDiffSchemas are the hand-written schemas; a schema seed picks one
// of them when seed%8 < len.
var fixedDiffSchemas = sync.OnceValues(func() ([]*diffSchema, error) {
	var out []*diffSchema
	for i, s := range []*native.Schema{testSchema(), goldenSchema()} {
		ds, err := newDiffSchema(uint64(i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, ds)
	}
	return out, nil
})

// diffSchemaOf returns the schema of seed: a hand-written one, or a random
// one; nil when the builder refuses the random one.
func diffSchemaOf(t testing.TB, seed uint64) *diffSchema {
	t.Helper()
	fixed, err := fixedDiffSchemas()
	if err != nil {
		t.Fatal(err)
	}
	if i := seed % 8; i < uint64(len(fixed)) {
		return fixed[i]
	}
	ds, err := newDiffSchema(seed, randSchema(rand.New(rand.NewSource(int64(seed)))))
	if err != nil {
		return nil
	}
	return ds
}

func newDiffSchema(seed uint64, s *native.Schema) (*diffSchema, error) {
	set, err := buildProtoSet(context.Background(), s, "", DefaultSchemaLimits)
	if err != nil {
		return nil, err
	}
	js, _ := json.Marshal(s)
	ds := &diffSchema{name: fmt.Sprintf("schema seed %d: %s", seed, js), set: set}
	for _, name := range slices.Sorted(maps.Keys(set.messages)) {
		ds.codecs = append(ds.codecs, set.messages[name])
	}
	for _, full := range slices.Sorted(maps.Keys(set.methods)) {
		if m := set.methods[full]; m.req != nil && m.req.field != nil || m.resp != nil && m.resp.field != nil {
			ds.values = append(ds.values, m)
		}
	}
	return ds, nil
}

// diffStats counts what the differential checks saw.
type diffStats struct {
	schemas, refused        int
	wireOK, wireFailed      int // wire -> JSON: both succeeded, both failed
	jsonOK, jsonFailed      int // JSON -> wire, likewise
	useMessage              [2]int
	normalFormJSONFallbacks int
}

func (s *diffStats) String() string {
	return fmt.Sprintf("%d schemas (%d refused); wire->JSON %d ok, %d refused by both; JSON->wire %d ok, %d refused by both, errUseMessage %d lenient, %d strict",
		s.schemas, s.refused, s.wireOK, s.wireFailed, s.jsonOK, s.jsonFailed, s.useMessage[0], s.useMessage[1])
}

// unmarshalMessage is proto.Unmarshal into a new message of md, a panic
// (dynamicpb panics on some malformed map entries) being an error.
func unmarshalMessage(wire []byte, md protoreflect.MessageDescriptor) (m *dynamicpb.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("proto.Unmarshal panics: %v", r)
		}
	}()
	m = dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(wire, m); err != nil {
		return nil, err
	}
	return m, nil
}

// oldJSONFromWire is the message path of the wire bytes of a message of
// md to native JSON; encode writes the message. unknown is set when
// unknownInWire refuses the bytes.
func oldJSONFromWire(wire []byte, md protoreflect.MessageDescriptor, encode func(protoreflect.Message) ([]byte, error)) (out []byte, unknown bool, err error) {
	if err := unknownInWire(wire, md); err != nil {
		return nil, true, err
	}
	m, err := unmarshalMessage(wire, md)
	if err != nil {
		return nil, false, err
	}
	out, err = encode(m)
	return out, false, err
}

// checkJSONFromWire compares the direct transcoding of wire against the
// message path's. what names the case.
func checkJSONFromWire(t testing.TB, st *diffStats, what string, wire []byte, old []byte, oldUnknown bool, oldErr error, got []byte, err error) {
	t.Helper()
	switch {
	case (err == nil) != (oldErr == nil):
		t.Fatalf("%s: wire -> JSON of %q:\nmessage path: %s, %v\ndirect:       %s, %v", what, wire, old, oldErr, got, err)
	case err != nil && oldUnknown && err.Error() != oldErr.Error():
		t.Fatalf("%s: wire -> JSON of %q: the unknown field error is\n%q, want unknownInWire's\n%q", what, wire, err, oldErr)
	case err != nil && !oldUnknown && strings.Contains(err.Error(), "unknown field number"):
		t.Fatalf("%s: wire -> JSON of %q: the direct path refuses an unknown field (%v) where unknownInWire finds none (message path: %v)", what, wire, err, oldErr)
	case err != nil:
		st.wireFailed++
	case !bytes.Equal(got, old):
		t.Fatalf("%s: wire -> JSON of %q:\nmessage path: %s\ndirect:       %s", what, wire, old, got)
	default:
		st.wireOK++
	}
}

// diffWireMessage checks wire, the bytes of a message of c, both ways and
// returns the message path's JSON of it (nil when it fails).
func diffWireMessage(t testing.TB, st *diffStats, ds *diffSchema, c *messageCodec, wire []byte) []byte {
	t.Helper()
	old, unknown, oldErr := oldJSONFromWire(wire, c.desc, func(m protoreflect.Message) ([]byte, error) {
		e := &encoder{}
		err := e.message(m, c)
		return e.buf, err
	})
	// A non-empty dst shows the JSON is appended to it.
	prefix := []byte("pre")
	got, err := c.appendJSONFromWire(slices.Clip(prefix), wire)
	switch {
	case err == nil && !bytes.HasPrefix(got, prefix):
		t.Fatalf("%s\n%s: appendJSONFromWire(%q, %q) = %q: not appended", ds.name, c.name, prefix, wire, got)
	case err == nil:
		got = got[len(prefix):]
	}
	checkJSONFromWire(t, st, ds.name+"\nmessage "+c.name, wire, old, unknown, oldErr, got, err)
	return old
}

// checkWireFromJSON compares the direct transcoding of JSON data to wire
// bytes with r's rule against the message path's; read is the direct
// one and decode the message path. It returns the direct path's bytes.
func checkWireFromJSON(t testing.TB, st *diffStats, what string, md protoreflect.MessageDescriptor, data []byte, r jsonReader,
	read func(dst []byte) ([]byte, error), decode func() (protoreflect.Message, error)) []byte {
	t.Helper()
	old, oldErr := decode()
	prefix := []byte("pre")
	got, err := read(slices.Clip(prefix))
	if err == errUseMessage {
		if r.strict {
			st.useMessage[1]++
		} else {
			st.useMessage[0]++
		}
		return nil
	}
	switch {
	case (err == nil) != (oldErr == nil):
		t.Fatalf("%s: JSON -> wire (strict %v) of %q:\nmessage path: %v\ndirect:       %q, %v", what, r.strict, data, oldErr, got, err)
	case err != nil:
		st.jsonFailed++
	case !bytes.HasPrefix(got, prefix):
		t.Fatalf("%s: JSON -> wire (strict %v) of %q = %q: not appended to %q", what, r.strict, data, got, prefix)
	default:
		got = got[len(prefix):]
		m, err := unmarshalMessage(got, md)
		switch {
		case err != nil:
			t.Fatalf("%s: JSON -> wire (strict %v) of %q = %q, which proto.Unmarshal refuses: %v", what, r.strict, data, got, err)
		case !proto.Equal(m, old.Interface()):
			t.Fatalf("%s: JSON -> wire (strict %v) of %q:\nmessage path: %v\ndirect:       %v (%q)", what, r.strict, data, old, m, got)
		default:
			st.jsonOK++
			return got
		}
	}
	return nil
}

// diffJSONMessage checks JSON data of a message of c under both rules; the
// direct path's output goes back through diffWireMessage.
func diffJSONMessage(t testing.TB, st *diffStats, ds *diffSchema, c *messageCodec, data []byte) {
	t.Helper()
	for _, r := range []jsonReader{{strict: false}, {strict: true}} {
		got := checkWireFromJSON(t, st, ds.name+"\nmessage "+c.name, c.desc, data, r,
			func(dst []byte) ([]byte, error) { return c.appendWireFromJSON(dst, data, r) },
			func() (protoreflect.Message, error) {
				j, err := r.parse(data)
				if err != nil {
					return nil, err
				}
				m := dynamicpb.NewMessage(c.desc)
				if j != nil {
					err = r.message(m, c, j)
				}
				return m, err
			})
		if got != nil {
			diffWireMessage(t, st, ds, c, got)
		}
	}
}

// diffValueWire checks wire, the bytes of the input message of md, a
// <Method>Request of a bare value, and returns the message path's JSON.
func diffValueWire(t testing.TB, st *diffStats, ds *diffSchema, md *method, wire []byte) []byte {
	t.Helper()
	old, unknown, oldErr := oldJSONFromWire(wire, md.in, md.requestJSON)
	if unknown {
		oldErr = md.wrap("request", oldErr)
	}
	got, err := md.requestJSONFromWire(wire)
	checkJSONFromWire(t, st, ds.name+"\nmethod "+md.fullMethod, wire, old, unknown, oldErr, got, err)
	return old
}

// diffValueJSON checks data, the JSON of the response of md, a bare value,
// under both rules.
func diffValueJSON(t testing.TB, st *diffStats, ds *diffSchema, md *method, data []byte) {
	t.Helper()
	f := md.resp.field
	for _, r := range []jsonReader{{strict: false}, {strict: true}} {
		checkWireFromJSON(t, st, ds.name+"\nmethod "+md.fullMethod, md.out, data, r,
			func(dst []byte) ([]byte, error) { return appendFieldWireFromJSON(dst, data, r, f) },
			func() (protoreflect.Message, error) { return md.decode("response", r, md.resp, md.out, data) })
	}
}

// diffCase runs the checks for one message seed on every message of ds:
// tail is appended to the wire bytes and read alone, jsonText read as
// JSON.
func diffCase(t testing.TB, st *diffStats, ds *diffSchema, msgSeed uint64, tail, jsonText []byte) {
	t.Helper()
	r := rand.New(rand.NewSource(int64(msgSeed)))
	g := &gen{r: r, maxDepth: 1 + r.Intn(3)}
	det := proto.MarshalOptions{Deterministic: true}
	for _, c := range ds.codecs {
		m := dynamicpb.NewMessage(c.desc)
		g.message(m, c, 0)
		plain, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		sorted, err := det.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		wild := wildWire(r, c.desc, 0)
		var docs [][]byte
		for _, wire := range [][]byte{plain, sorted, concat(plain, tail), concat(sorted, wild), wild, concat(wild, tail), tail} {
			if js := diffWireMessage(t, st, ds, c, wire); js != nil {
				docs = append(docs, js)
			}
		}
		// The encoder's JSON of a generated message reads back on the
		// direct path, under both rules.
		e := &encoder{}
		if err := e.message(m, c); err != nil {
			t.Fatalf("%s\nmessage %s: the encoder refuses a generated message %v: %v", ds.name, c.name, m, err)
		}
		for _, strict := range []bool{false, true} {
			if _, err := c.appendWireFromJSON(nil, e.buf, jsonReader{strict: strict}); err == errUseMessage {
				st.normalFormJSONFallbacks++
			}
		}
		diffJSONMessage(t, st, ds, c, e.buf)
		for _, js := range docs {
			diffJSONMessage(t, st, ds, c, mutateJSON(r, js))
		}
		diffJSONMessage(t, st, ds, c, jsonText)
	}
	for _, md := range ds.values {
		if md.req != nil && md.req.field != nil {
			m := genValue(g, md.in, md.req.field)
			plain, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			wild := wildWire(r, md.in, 0)
			for _, wire := range [][]byte{plain, concat(plain, tail), wild, concat(wild, plain), tail} {
				diffValueWire(t, st, ds, md, wire)
			}
		}
		if md.resp != nil && md.resp.field != nil {
			m := genValue(g, md.out, md.resp.field)
			js, err := md.responseJSON(m)
			if err != nil {
				t.Fatalf("%s\nmethod %s: the encoder refuses a generated response %v: %v", ds.name, md.fullMethod, m, err)
			}
			wildJS, _, _ := oldJSONFromWire(wildWire(r, md.out, 0), md.out, md.responseJSON)
			for _, data := range [][]byte{js, mutateJSON(r, js), mutateJSON(r, wildJS), jsonText} {
				diffValueJSON(t, st, ds, md, data)
			}
		}
	}
}

// genValue returns a message of md holding a generated value in its field
// f alone: a <Method>Request or <Method>Response.
func genValue(g *gen, md protoreflect.MessageDescriptor, f *fieldCodec) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	g.field(m, f.fd, f.typ, false, "", 0)
	return m
}

func concat(a, b []byte) []byte { return append(slices.Clip(a), b...) }

// wildWire returns random wire bytes of a message of md, outside the
// normal form: fields in any order and any number of times, repeated
// scalars packed or not, empty messages, the Go zero time and timestamps
// out of range, NaN and infinities, Values with more than one kind,
// map entries without a key or a value; now and then a field md does not
// know, a wrong wire type or a string that is not UTF-8.
func wildWire(r *rand.Rand, md protoreflect.MessageDescriptor, depth int) []byte {
	var b []byte
	fields := md.Fields()
	if md.FullName() == "google.protobuf.Timestamp" && r.Intn(2) == 0 {
		sec, nanos := (&gen{r: r}).time()
		b = protowire.AppendVarint(protowire.AppendTag(b, timestampSeconds, protowire.VarintType), uint64(sec))
		return protowire.AppendVarint(protowire.AppendTag(b, timestampNanos, protowire.VarintType), uint64(nanos))
	}
	n := r.Intn(5)
	if depth > 4 {
		n = r.Intn(2)
	}
	for ; n > 0; n-- {
		if fields.Len() == 0 || r.Intn(50) == 0 {
			num := protowire.Number(1 + r.Intn(20))
			if fields.ByNumber(num) == nil {
				b = wildScalar(r, protowire.AppendTag(b, num, protowire.VarintType), protoreflect.Uint64Kind)
			}
			continue
		}
		fd := fields.Get(r.Intn(fields.Len()))
		switch {
		case r.Intn(80) == 0:
			// The wrong wire type, or a repeated field's other one.
			typ := []protowire.Type{protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType}[r.Intn(4)]
			b = protowire.AppendTag(b, fd.Number(), typ)
			b = wildScalar(r, b, map[protowire.Type]protoreflect.Kind{
				protowire.VarintType: protoreflect.Uint64Kind, protowire.Fixed32Type: protoreflect.Fixed32Kind,
				protowire.Fixed64Type: protoreflect.Fixed64Kind, protowire.BytesType: protoreflect.BytesKind,
			}[typ])
		case fd.Message() != nil:
			b = protowire.AppendTag(b, fd.Number(), protowire.BytesType)
			b = protowire.AppendBytes(b, wildWire(r, fd.Message(), depth+1))
		case fd.IsList() && fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.BytesKind && r.Intn(2) == 0:
			var packed []byte
			for k := r.Intn(4); k > 0; k-- {
				packed = wildScalar(r, packed, fd.Kind())
			}
			b = protowire.AppendBytes(protowire.AppendTag(b, fd.Number(), protowire.BytesType), packed)
		default:
			b = wildScalar(r, protowire.AppendTag(b, fd.Number(), scalarWireType(fd.Kind())), fd.Kind())
		}
	}
	return b
}

// scalarWireType is the wire type of a scalar of proto kind k.
func scalarWireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// wildScalar appends a random scalar of proto kind k, without a tag.
func wildScalar(r *rand.Rand, b []byte, k protoreflect.Kind) []byte {
	g := &gen{r: r}
	switch scalarWireType(k) {
	case protowire.Fixed32Type:
		f := []uint32{0, 1 << 31, 0x7fc00000, 0x7f800000, 0xff800000, math.Float32bits(1.5), math.Float32bits(16777217), r.Uint32()}[r.Intn(8)]
		return protowire.AppendFixed32(b, f)
	case protowire.Fixed64Type:
		f := []uint64{0, 1 << 63, math.Float64bits(math.NaN()), math.Float64bits(math.Inf(1)), math.Float64bits(g.float64()), math.Float64bits(1e21), r.Uint64()}[r.Intn(7)]
		return protowire.AppendFixed64(b, f)
	case protowire.BytesType:
		switch {
		case k == protoreflect.StringKind && r.Intn(25) == 0:
			return protowire.AppendString(b, "a\xffb")
		case k == protoreflect.StringKind:
			return protowire.AppendString(b, g.string())
		}
		return protowire.AppendBytes(b, g.scalar(native.KindBytes, "").Bytes())
	}
	v := []uint64{0, 1, 2, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32, 1<<53 + 1, 1<<63 - 1, 1 << 63, math.MaxUint64, r.Uint64(), uint64(r.Intn(1000))}[r.Intn(13)]
	return protowire.AppendVarint(b, v)
}

// jsonOddValues replace values in mutated JSON: wrong types, edge numbers,
// and strings that are, or nearly are, what some kinds want.
var jsonOddValues = []string{
	`null`, `0`, `-0`, `1`, `-1`, `0.5`, `1e400`, `-1e400`, `1E2`, `4294967296`, `18446744073709551616`, `-9223372036854775809`,
	`""`, `"x"`, `"1"`, `"-0"`, `"true"`, `"1e2"`, `"AA=="`, `"AA"`, `"_-8="`, `"\"1\""`, `"\ud800"`, `true`, `false`,
	`[]`, `[null]`, `[1,"a",null]`, `{}`, `{"":null}`, `{"1":null}`, `{"-1":{}}`, `{"x":1}`,
	`"0001-01-01T00:00:00Z"`, `"1970-01-01T00:00:00Z"`, `"9999-12-31T23:59:59.999999999Z"`, `"2024-02-30T00:00:00Z"`, `"2024-01-01T00:00:00+01:00"`,
}

// mutateJSON returns data, one JSON value, with one value replaced (by an
// odd one or another of data's), or one object member dropped, doubled or
// followed by one the schema does not know. It returns data itself when
// data is not JSON.
func mutateJSON(r *rand.Rand, data []byte) []byte {
	vals := jsonValues(data, nil)
	if len(vals) == 0 {
		return data
	}
	target, op := r.Intn(len(vals)), r.Intn(10)
	repl := []byte(jsonOddValues[r.Intn(len(jsonOddValues))])
	if r.Intn(2) == 0 {
		repl = vals[r.Intn(len(vals))]
	}
	k := 0 // the index of the next value, in vals' order
	var out []byte
	var walk func(v jsontext.Value)
	walk = func(v jsontext.Value) {
		if k == target {
			k += len(jsonValues(v, nil))
			out = append(out, repl...)
			return
		}
		k++
		if v.Kind() != '[' && v.Kind() != '{' {
			out = append(out, v...)
			return
		}
		d := jsontext.NewDecoder(bytes.NewReader(v), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
		tok, _ := d.ReadToken()
		kind := tok.Kind() // tok is void after the next read
		out = append(out, byte(kind))
		n := 0 // values written
		for d.PeekKind() != ']' && d.PeekKind() != '}' {
			var name []byte
			if kind == '{' {
				nv, _ := d.ReadValue()
				name = bytes.Clone(nv)
			}
			sv, _ := d.ReadValue()
			sub := bytes.Clone(sv)
			member := func(name, v []byte) {
				if n++; n > 1 {
					out = append(out, ',')
				}
				out = append(append(out, name...), ':')
				walk(v)
			}
			if name == nil || k != target || op < 6 {
				if name == nil {
					if n++; n > 1 {
						out = append(out, ',')
					}
					walk(sub)
				} else {
					member(name, sub)
				}
				continue
			}
			switch op {
			case 6: // dropped
				k += len(jsonValues(sub, nil))
			case 7, 8: // doubled, with the same value or another
				target = -1
				member(name, sub)
				member(name, [][]byte{sub, repl}[op-7])
			default: // followed by a member the schema does not know
				target = -1
				member(name, sub)
				member([]byte(`"zz"`), repl)
			}
		}
		out = append(out, map[jsontext.Kind]byte{'[': ']', '{': '}'}[kind])
	}
	walk(vals[0])
	return out
}

// jsonValues appends every value of data, one JSON value, to vals, the
// outer ones first; it returns vals when data is not JSON.
func jsonValues(data []byte, vals []jsontext.Value) []jsontext.Value {
	d := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	v, err := d.ReadValue()
	if err != nil {
		return vals
	}
	v = bytes.Clone(v) // void after the next read
	if _, err := d.ReadToken(); err == nil {
		return vals // data after the value
	}
	vals = append(vals, v)
	if k := v.Kind(); k != '[' && k != '{' {
		return vals
	}
	d = jsontext.NewDecoder(bytes.NewReader(v), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	tok, _ := d.ReadToken()
	kind := tok.Kind() // tok is void after the next read
	for d.PeekKind() != ']' && d.PeekKind() != '}' {
		if kind == '{' {
			d.ReadValue()
		}
		sub, _ := d.ReadValue()
		vals = jsonValues(sub, vals)
	}
	return vals
}

// seedTail returns the tail of wire bytes for a seed that runs without the
// fuzzer: nothing, wild bytes of a message of md, or random bytes.
func seedTail(r *rand.Rand, seed uint64, md protoreflect.MessageDescriptor) []byte {
	switch seed % 3 {
	case 1:
		return wildWire(r, md, 0)
	case 2:
		tail := make([]byte, r.Intn(8))
		r.Read(tail)
		return tail
	}
	return nil
}

// FuzzTranscodeDiff checks the direct transcoders against the message
// path: schemaSeed picks the schema (hand-written or random), msgSeed the
// generated and wild messages; tail is appended to their wire bytes and
// read alone, jsonText read as JSON.
func FuzzTranscodeDiff(f *testing.F) {
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1)
	f.Add(uint64(0), uint64(1), []byte{}, []byte(`{}`))
	f.Add(uint64(0), uint64(2), unknown, []byte(`null`))
	f.Add(uint64(1), uint64(3), []byte{0x0a, 0x02, 0xff, 0xfe}, []byte(`{"id":"1","tags":{"1":"a","1":"b"},"v":[1,{"a":null}]}`))
	f.Add(uint64(8), uint64(4), []byte{0x08}, []byte(`{"b":true,"b":false}`))
	f.Add(uint64(9), uint64(5), []byte{0x12, 0x00, 0x12, 0x00}, []byte(`[]`))
	f.Add(uint64(17), uint64(6), []byte{0x0d, 0, 0, 0xc0, 0x7f}, []byte(`{"a":{"b":[1,2]},"\u00fcn\u00ef":"x"}`))
	f.Add(uint64(42), uint64(7), []byte{0x0c}, []byte("\"\xff\""))
	f.Fuzz(func(t *testing.T, schemaSeed, msgSeed uint64, tail, jsonText []byte) {
		ds := diffSchemaOf(t, schemaSeed)
		if ds == nil {
			t.Skip("the builder refuses the schema")
		}
		var st diffStats
		diffCase(t, &st, ds, msgSeed, tail, jsonText)
		if st.normalFormJSONFallbacks > 0 {
			t.Fatalf("%s: the encoder's JSON of a generated message goes back to the message path %d times", ds.name, st.normalFormJSONFallbacks)
		}
	})
}

// TestTranscodeDiffRandom runs the differential checks on random schemas
// (and the hand-written ones) without the fuzzer, with random tails and
// JSON texts.
func TestTranscodeDiffRandom(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 40
	}
	var st diffStats
	for seed := range uint64(seeds) {
		ds := diffSchemaOf(t, seed)
		st.schemas++
		if ds == nil {
			st.refused++
			continue
		}
		// A tail of another message: unknown fields and wrong wire types
		// for this one.
		r := rand.New(rand.NewSource(int64(seed)))
		tail := seedTail(r, seed, ds.codecs[r.Intn(len(ds.codecs))].desc)
		jsonText := []byte(jsonOddValues[r.Intn(len(jsonOddValues))])
		diffCase(t, &st, ds, seed, tail, jsonText)
	}
	t.Log(&st)
	if st.refused > 0 {
		t.Errorf("the builder refuses %d of %d random schemas", st.refused, st.schemas)
	}
	if st.normalFormJSONFallbacks > 0 {
		t.Errorf("the encoder's JSON of a generated message goes back to the message path %d times", st.normalFormJSONFallbacks)
	}
	if st.wireOK == 0 || st.wireFailed == 0 || st.jsonOK == 0 || st.jsonFailed == 0 {
		t.Errorf("a side of the comparison is never exercised: %v", &st)
	}
}
