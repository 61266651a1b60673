package gateway

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"

	"github.com/framegate/framegate/internal/store"
	"github.com/framegate/framegate/native"
)

// TestStorePinsTodaysNumbers checks that the demo store's pinned numbers
// are the positional ones it was served with before pinning: its
// descriptors (what grpcurl describe prints) equal those of the same schema
// with every pin removed.
func TestStorePinsTodaysNumbers(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := native.NewServer()
	if err := st.Register(srv); err != nil {
		t.Fatal(err)
	}
	s, err := srv.Schema()
	if err != nil {
		t.Fatal(err)
	}
	pinned := 0
	plain := &native.Schema{Protocol: s.Protocol, Endpoints: s.Endpoints, Messages: map[string]*native.Message{}}
	for k, m := range s.Messages {
		c := &native.Message{Name: m.Name, Fields: append([]native.Field(nil), m.Fields...)}
		for i := range c.Fields {
			if c.Fields[i].Number != 0 {
				pinned++
			}
			c.Fields[i].Number = 0
		}
		plain.Messages[k] = c
	}
	if pinned == 0 {
		t.Fatal("the store pins no field number")
	}
	a, err := buildProtoSet(context.Background(), s, "", DefaultSchemaLimits)
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildProtoSet(context.Background(), plain, "", DefaultSchemaLimits)
	if err != nil {
		t.Fatal(err)
	}
	if pa, pb := protodesc.ToFileDescriptorProto(a.file), protodesc.ToFileDescriptorProto(b.file); !proto.Equal(pa, pb) {
		t.Errorf("pinned descriptors differ from positional ones:\npinned: %v\nplain:  %v", pa, pb)
	}
}
