package gateway

import (
	"math/rand"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// BenchmarkTranscode measures both ways of each direction on the same
// messages, in the same run: the message path (proto.Unmarshal into
// dynamicpb, then the encoder; the JSON reader into dynamicpb, then
// proto.Marshal) against the direct one (wirejson.go, jsonwire.go), on 64
// random test.Rich messages (every kind of field, nested) and 64 random
// test.Other ones (a message and lists of messages, recursive); and REST's
// JSON body, read strictly and written back, both ways.
func BenchmarkTranscode(b *testing.B) {
	ps := mustBuild(b, testSchema(), "")
	for _, tc := range []struct{ name, msg string }{{"rich", "test.Rich"}, {"other", "test.Other"}} {
		c := ps.messages[tc.msg]
		var wires, jsons [][]byte
		size := 0
		for seed := int64(0); len(wires) < 64; seed++ {
			m := dynamicpb.NewMessage(c.desc)
			(&gen{r: rand.New(rand.NewSource(seed)), maxDepth: 3}).message(m, c, 0)
			e := &encoder{}
			if e.message(m, c) != nil {
				continue
			}
			w, err := proto.Marshal(m)
			if err != nil {
				b.Fatal(err)
			}
			wires, jsons = append(wires, w), append(jsons, e.buf)
			size += len(w)
		}
		b.Run(tc.name+"/wire-to-json/message", func(b *testing.B) {
			b.SetBytes(int64(size / len(wires)))
			b.ReportAllocs()
			for i := range b.N {
				m := dynamicpb.NewMessage(c.desc)
				w := wires[i%len(wires)]
				if unknownInWire(w, c.desc) != nil || proto.Unmarshal(w, m) != nil {
					b.Fatal("refused")
				}
				if err := (&encoder{buf: make([]byte, 0, 256)}).message(m, c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/wire-to-json/direct", func(b *testing.B) {
			b.SetBytes(int64(size / len(wires)))
			b.ReportAllocs()
			for i := range b.N {
				w := wires[i%len(wires)]
				if _, err := c.appendJSONFromWire(make([]byte, 0, 2*len(w)+16), w); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/json-to-wire/message", func(b *testing.B) {
			b.SetBytes(int64(size / len(wires)))
			b.ReportAllocs()
			for i := range b.N {
				r := jsonReader{}
				j, err := r.parse(jsons[i%len(jsons)])
				m := dynamicpb.NewMessage(c.desc)
				if err == nil && j != nil {
					err = r.message(m, c, j)
				}
				if err != nil {
					b.Fatal(err)
				}
				if _, err := proto.Marshal(m); err != nil {
					b.Fatal(err)
				}
			}
		})
		if md := ps.lookup("/native.Echo/Rich"); tc.msg == "test.Rich" {
			// REST's request body: JSON read strictly and written back.
			b.Run(tc.name+"/json-to-json/message", func(b *testing.B) {
				b.ReportAllocs()
				for i := range b.N {
					m, err := md.requestMessage(jsons[i%len(jsons)])
					if err == nil {
						_, err = md.requestJSON(m)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(tc.name+"/json-to-json/direct", func(b *testing.B) {
				b.ReportAllocs()
				for i := range b.N {
					if _, ok := md.requestJSONDirect(jsons[i%len(jsons)]); !ok {
						b.Fatal("refused")
					}
				}
			})
		}
		b.Run(tc.name+"/json-to-wire/direct", func(b *testing.B) {
			b.SetBytes(int64(size / len(wires)))
			b.ReportAllocs()
			for i := range b.N {
				j := jsons[i%len(jsons)]
				if _, err := c.appendWireFromJSON(make([]byte, 0, len(j)+16), j, jsonReader{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
