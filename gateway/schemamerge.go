package gateway

// Merging the schemas of several backends into the one a gateway serves
// (Router). Each backend serves its own services: a service (the part of
// an endpoint's name before its last dot) belongs to one backend, and a
// second backend serving it is refused with an error naming both, unless
// the router gives precedence to the first in order. Messages are shared
// when two backends describe one message name identically (the same Go
// type in a shared package, typically); a backend whose message of a name
// already taken differs gets it under "<backend>.<name>", and so does every
// message of its that refers to a renamed one, so that each backend's calls
// are transcoded with its own types. The order of the backends decides who
// keeps a name, so the names are stable while the backends' schemas are.

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/framegate/framegate/internal/clip"
	"github.com/framegate/framegate/native"
)

// partSchema is one backend's schema, nil while it has never been
// described.
type partSchema struct {
	name string
	s    *native.Schema
}

// merged is the result of mergeSchemas.
type merged struct {
	schema *native.Schema
	route  map[string]int // endpoint name -> index of its backend
	// services lists, per backend, the proto service names it serves.
	services [][]string
	// shadowed lists the services a backend describes but another with
	// precedence serves: "<service> (backend <name>)".
	shadowed []string
}

// ServiceConflictError is the error of a schema in which two backends serve
// the same service, without precedence.
type ServiceConflictError struct {
	Service        string
	First, Second  string // the backends, in order
	FirstEndpoint  string
	SecondEndpoint string
}

func (e *ServiceConflictError) Error() string {
	return fmt.Sprintf("gateway: service %s is served by backends %s (endpoint %s) and %s (endpoint %s); give each service to one backend, or let the first in order win",
		clip.Quote(e.Service), clip.Quote(e.First), clip.Quote(e.FirstEndpoint), clip.Quote(e.Second), clip.Quote(e.SecondEndpoint))
}

// mergeSchemas merges parts, in order (see the file comment).
func mergeSchemas(parts []partSchema, precedence bool) (*merged, error) {
	m := &merged{
		schema:   &native.Schema{Protocol: native.ProtocolVersion, Messages: map[string]*native.Message{}},
		route:    map[string]int{},
		services: make([][]string, len(parts)),
	}
	type owner struct {
		part     int
		endpoint string
	}
	services := map[string]owner{}
	msgOwner := map[string]int{}
	for i, p := range parts {
		if p.s == nil {
			continue
		}
		rename := renamedMessages(p, m.schema.Messages)
		for _, name := range slices.Sorted(maps.Keys(p.s.Messages)) {
			msg := p.s.Messages[name]
			if to, ok := rename[name]; ok {
				m.schema.Messages[to] = renameMessage(msg, to, rename)
				msgOwner[to] = i
			} else if _, shared := m.schema.Messages[name]; !shared {
				m.schema.Messages[name] = renameMessage(msg, name, rename)
				msgOwner[name] = i
			}
		}
		seen := map[string]bool{}
		for _, e := range p.s.Endpoints {
			svc, _ := endpointNames(e.Name)
			if o, taken := services[svc]; taken && o.part != i {
				if !precedence {
					return nil, &ServiceConflictError{Service: svc, First: parts[o.part].name, FirstEndpoint: o.endpoint, Second: p.name, SecondEndpoint: e.Name}
				}
				if !seen[svc] {
					seen[svc] = true
					m.shadowed = append(m.shadowed, fmt.Sprintf("%s (backend %s)", svc, p.name))
				}
				continue
			}
			if _, taken := services[svc]; !taken {
				services[svc] = owner{i, e.Name}
				m.services[i] = append(m.services[i], svc)
			}
			e.RequestType, e.ResponseType = renameType(e.RequestType, rename), renameType(e.ResponseType, rename)
			e.RequestMessage, e.ResponseMessage = renameType(e.RequestMessage, rename), renameType(e.ResponseMessage, rename)
			m.schema.Endpoints = append(m.schema.Endpoints, e)
			m.route[e.Name] = i
		}
	}
	return m, nil
}

// renamedMessages chooses the messages of p that take "<backend>.<name>"
// because the name is taken by a different message: those whose fields
// differ, then, until nothing changes, those that refer to a renamed one.
func renamedMessages(p partSchema, taken map[string]*native.Message) map[string]string {
	rename := map[string]string{}
	prefix := sanitizeIdent(p.name) + "."
	for changed := true; changed; {
		changed = false
		for name, msg := range p.s.Messages {
			other, ok := taken[name]
			if !ok || rename[name] != "" {
				continue
			}
			if !reflect.DeepEqual(msg.Fields, other.Fields) || refersTo(msg, rename) {
				to := prefix + name
				for n := 2; taken[to] != nil || p.s.Messages[to] != nil; n++ {
					to = fmt.Sprintf("%s%s_%d", prefix, name, n)
				}
				rename[name] = to
				changed = true
			}
		}
	}
	return rename
}

// refersTo reports whether a field of msg refers to a message in rename.
func refersTo(msg *native.Message, rename map[string]string) bool {
	for _, f := range msg.Fields {
		for t := &f.Type; t != nil; t = t.Elem {
			if t.Kind == native.KindMessage && rename[t.Message] != "" {
				return true
			}
		}
	}
	return false
}

// renameMessage returns a copy of msg named name, its references renamed.
func renameMessage(msg *native.Message, name string, rename map[string]string) *native.Message {
	out := &native.Message{Name: name, Fields: slices.Clone(msg.Fields)}
	for i := range out.Fields {
		out.Fields[i].Type = *renameType(&out.Fields[i].Type, rename)
	}
	return out
}

// renameType returns t with its message references renamed (t itself if
// none is).
func renameType(t *native.Type, rename map[string]string) *native.Type {
	if t == nil || len(rename) == 0 {
		return t
	}
	c := *t
	if c.Kind == native.KindMessage {
		if to, ok := rename[c.Message]; ok {
			c.Message = to
		}
	}
	c.Elem = renameType(c.Elem, rename)
	return &c
}
