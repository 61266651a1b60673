package gateway

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// FuzzUnknownInWire checks the wire scan against the walk of the decoded
// message it replaced on the gRPC face: whatever the walk finds, the scan
// finds; what only the scan finds is inside a map entry, whose unknown
// fields proto.Unmarshal drops; and what makes dynamicpb panic, the scan
// refuses before it gets there.
func FuzzUnknownInWire(f *testing.F) {
	ps, err := buildProtoSet(context.Background(), goldenSchema(), "", DefaultSchemaLimits)
	if err != nil {
		f.Fatal(err)
	}
	md := ps.lookup("/native.G/Small").in
	seed := func(js string, extra ...byte) []byte {
		m := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal([]byte(js), m); err != nil {
			f.Fatal(err)
		}
		b, _ := proto.Marshal(m)
		return append(b, extra...)
	}
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1)
	f.Add(seed(`{"id":"1","tags":{"1":"a"},"child":{"n":3},"grid":[{"values":[1,2]}],"v":{"a":[1,"b"]}}`))
	f.Add(seed(`{"id":"1"}`, unknown...))
	f.Add(seed(`{"child":{"n":3}}`, 0x62, 0x02, 0xf8, 0x06)) // child again, with field 99
	f.Add([]byte{0x0c})
	f.Add([]byte{0x08, 0x96, 0x01, 0x15, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := dynamicpb.NewMessage(md)
		scan := unknownInWire(b, md)
		var panicked any
		err := func() error {
			defer func() { panicked = recover() }()
			return proto.Unmarshal(b, m)
		}()
		if panicked != nil {
			// dynamicpb panics on some malformed map entries: the scan,
			// which runs first, must refuse them.
			if scan == nil {
				t.Fatalf("%x: proto.Unmarshal panics (%v) and the scan lets it through", b, panicked)
			}
			return
		}
		if err != nil {
			return
		}
		walk := unknownField(m)
		switch {
		case walk != nil && scan == nil:
			t.Fatalf("%x: the walk finds %v, the scan nothing", b, walk)
		case scan != nil && walk == nil && !strings.Contains(scan.Error(), "["):
			t.Fatalf("%x: the scan finds %v outside a map entry, the walk nothing", b, scan)
		}
	})
}
