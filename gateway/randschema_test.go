package gateway

// A seeded generator of random native schemas, for the differential tests
// of the transcoders (transcodediff_fuzz_test.go). Each schema has one to
// four messages whose fields take every native kind: the scalars,
// timestamps, anys, references to messages (to the message itself and to
// the others, recursive through optional fields, lists and maps), and
// lists and maps nested a few levels (a list of lists, a map of lists, a
// list of maps...), with map keys of every kind a map key may have. Fields
// are optional or quoted at random, and in some messages pinned to random
// field numbers, so that the descriptor's order is not the numbers'
// order. Field names include ones that sanitize to the same proto name.
// Every message is an endpoint's request and response.
//
// A non-optional message field only refers to a later message, so that no
// message contains itself through non-optional fields (checkCycles
// refuses those, as no Go type can have one): nearly every generated
// schema builds.

import (
	"fmt"
	"math/rand"

	"github.com/framegate/framegate/native"
)

// randFieldNames are the names random fields draw from; a name already
// taken in the message gets the field's position appended.
var randFieldNames = []string{
	"a", "b", "id", "name", "camelCase", "snake_case", "a_b", "a-b", "a.b",
	"A", "_", "1st", "ünï", "x y", "value", "entries", "values", "Entry",
}

// randMapKeys are the kinds a map key may have.
var randMapKeys = []native.Kind{native.KindString, native.KindInt32, native.KindInt64, native.KindUint32, native.KindUint64}

// randScalars are the scalar kinds.
var randScalars = []native.Kind{
	native.KindBool, native.KindInt32, native.KindInt64, native.KindUint32, native.KindUint64,
	native.KindFloat32, native.KindFloat64, native.KindString, native.KindBytes,
}

// randSchema returns a random schema drawn from r.
func randSchema(r *rand.Rand) *native.Schema {
	names := make([]string, 1+r.Intn(4))
	for i := range names {
		names[i] = fmt.Sprintf("rnd.M%d", i)
	}
	s := &native.Schema{Protocol: 1, Messages: map[string]*native.Message{}}
	for i, name := range names {
		m := &native.Message{Name: name, Fields: []native.Field{}}
		pinned := r.Intn(4) == 0
		taken, numbers := map[string]bool{}, map[int32]bool{}
		for j := r.Intn(9); j > 0; j-- {
			f := native.Field{Name: randFieldNames[r.Intn(len(randFieldNames))]}
			if taken[f.Name] {
				f.Name += fmt.Sprint(len(m.Fields))
			}
			taken[f.Name] = true
			f.Optional = r.Intn(4) == 0
			f.Quoted = r.Intn(6) == 0
			if f.Optional {
				f.Type = randType(r, names, 0, 0)
			} else {
				f.Type = randType(r, names, i+1, 0)
			}
			if pinned {
				for f.Number == 0 || numbers[f.Number] || f.Number >= 19000 && f.Number <= 19999 {
					f.Number = []int32{1 + r.Int31n(16), 1 + r.Int31n(3000), 1 + r.Int31n(1<<29-1)}[r.Intn(3)]
				}
				numbers[f.Number] = true
			}
			m.Fields = append(m.Fields, f)
		}
		s.Messages[name] = m
		ep := native.Endpoint{Name: fmt.Sprintf("Rnd.Echo%d", i), Request: native.BodyJSON, Response: native.BodyJSON,
			RequestType: tp(tmsg(name)), ResponseType: tp(tmsg(name))}
		s.Endpoints = append(s.Endpoints, ep)
	}
	if r.Intn(2) == 0 {
		// A bare value: the synthesized <Method>Request and Response.
		s.Endpoints = append(s.Endpoints, native.Endpoint{Name: "Rnd.Value", Request: native.BodyJSON, Response: native.BodyJSON,
			RequestType: tp(randType(r, names, 0, 0)), ResponseType: tp(randType(r, names, 0, 0))})
	}
	return s
}

// randType returns a random type nested level list and map levels deep.
// A message it names directly is one of names[from:], any of names when
// it is a list element or a map value; when from is past the end it names
// none.
func randType(r *rand.Rand, names []string, from, level int) native.Type {
	n := 16
	if level >= 3 {
		n = 13 // no more lists or maps
	}
	switch k := r.Intn(n); {
	case k < 9:
		return tk(randScalars[k])
	case k == 9:
		return tk(native.KindTimestamp)
	case k == 10:
		return tk(native.KindAny)
	case k < 13:
		if from >= len(names) {
			return tk(randScalars[r.Intn(len(randScalars))])
		}
		return tmsg(names[from+r.Intn(len(names)-from)])
	case k < 15:
		return tlist(randType(r, names, 0, level+1))
	}
	return tmap(randMapKeys[r.Intn(len(randMapKeys))], randType(r, names, 0, level+1))
}
