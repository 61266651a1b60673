package gateway

// This file checks a native schema before descriptors are built from it, so
// that a malformed schema (from a newer or buggy backend) fails with an
// error naming the endpoint or field instead of an invalid descriptor.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/framegate/framegate/native"
)

// isScalar reports whether k maps to a proto scalar type.
func isScalar(k native.Kind) bool {
	switch k {
	case native.KindBool, native.KindInt32, native.KindInt64, native.KindUint32, native.KindUint64,
		native.KindFloat32, native.KindFloat64, native.KindString, native.KindBytes:
		return true
	}
	return false
}

// isMapKey reports whether k can be the key kind of a map.
func isMapKey(k native.Kind) bool {
	switch k {
	case native.KindString, native.KindInt32, native.KindInt64, native.KindUint32, native.KindUint64:
		return true
	}
	return false
}

// validBody reports whether k is a known body kind.
func validBody(k native.BodyKind) bool {
	switch k {
	case native.BodyNone, native.BodyJSON, native.BodyStream, native.BodyJSONStream, native.BodyMessages, native.BodyJSONMessages:
		return true
	}
	return false
}

// ErrSchemaLimit is wrapped by the error of a schema past one of the
// gateway's SchemaLimits.
var ErrSchemaLimit = errors.New("gateway: schema limit exceeded")

// limitError is the error of a schema past a limit; it is ErrSchemaLimit.
type limitError struct{ msg string }

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == ErrSchemaLimit }

// overLimit is the error of a schema whose what (n of them) is over the
// limit named by option.
func overLimit(what string, n, limit int, option string) error {
	return &limitError{fmt.Sprintf("gateway: %s: %d, over the limit of %d (SchemaLimits.%s)", what, n, limit, option)}
}

// checkSchema reports the first problem of s that would keep it from being
// mapped to proto: a size past lim, unknown kinds, dangling message
// references, missing element types, bad map keys, duplicate JSON names,
// and messages that contain themselves without a pointer (no Go type can).
// It stops with ctx's error once ctx is done.
func checkSchema(ctx context.Context, s *native.Schema, lim SchemaLimits) error {
	if s == nil {
		return fmt.Errorf("gateway: nil schema")
	}
	if len(s.Messages) > lim.MaxMessages {
		return overLimit("schema messages", len(s.Messages), lim.MaxMessages, "MaxMessages")
	}
	if len(s.Endpoints) > lim.MaxEndpoints {
		return overLimit("schema endpoints", len(s.Endpoints), lim.MaxEndpoints, "MaxEndpoints")
	}
	total := 0
	for name, m := range s.Messages {
		if m == nil {
			continue // reported below, in order
		}
		if len(m.Fields) > lim.MaxFieldsPerMessage {
			return overLimit(fmt.Sprintf("fields of message %.100q", name), len(m.Fields), lim.MaxFieldsPerMessage, "MaxFieldsPerMessage")
		}
		total += len(m.Fields)
	}
	if total > lim.MaxFields {
		return overLimit("fields of all messages", total, lim.MaxFields, "MaxFields")
	}
	names := make([]string, 0, len(s.Messages))
	for name := range s.Messages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := interrupted(ctx); err != nil {
			return err
		}
		m := s.Messages[name]
		if m == nil {
			return fmt.Errorf("gateway: message %q is nil", name)
		}
		seen := map[string]bool{}
		for _, f := range m.Fields {
			where := fmt.Sprintf("message %q field %q", name, f.Name)
			if seen[f.Name] {
				return fmt.Errorf("gateway: %s appears twice", where)
			}
			seen[f.Name] = true
			if err := checkType(s, &f.Type, where, lim.MaxDepth, 0); err != nil {
				return err
			}
		}
	}
	for _, ep := range s.Endpoints {
		for _, part := range []struct {
			what string
			kind native.BodyKind
			typ  *native.Type
			msg  *native.Type
		}{{"request", ep.Request, ep.RequestType, ep.RequestMessage}, {"response", ep.Response, ep.ResponseType, ep.ResponseMessage}} {
			where := fmt.Sprintf("endpoint %q %s", ep.Name, part.what)
			if !validBody(part.kind) {
				return fmt.Errorf("gateway: %s: unknown body kind %q", where, part.kind)
			}
			if part.kind.HasJSON() {
				if part.typ == nil {
					return fmt.Errorf("gateway: %s: body kind %q without a type", where, part.kind)
				}
				if err := checkType(s, part.typ, where, lim.MaxDepth, 0); err != nil {
					return err
				}
			}
			if part.kind.HasMessages() {
				if part.msg == nil {
					return fmt.Errorf("gateway: %s: body kind %q without a message type", where, part.kind)
				}
				if err := checkType(s, part.msg, where+" messages", lim.MaxDepth, 0); err != nil {
					return err
				}
			}
		}
		// A response is a JSON value or a stream of messages, not both:
		// native handlers cannot answer json+messages.
		if ep.Response == native.BodyJSONMessages {
			return fmt.Errorf("gateway: endpoint %q response: body kind %q is not served (a response is a JSON value or a stream of messages)", ep.Name, ep.Response)
		}
	}
	return checkCycles(s, names)
}

// checkType checks one type; where names its place for errors. t is
// nested level list and map levels deep, of at most maxDepth.
func checkType(s *native.Schema, t *native.Type, where string, maxDepth, level int) error {
	switch {
	case isScalar(t.Kind), t.Kind == native.KindTimestamp, t.Kind == native.KindAny:
		return nil
	case t.Kind == native.KindMessage:
		if s.Messages[t.Message] == nil {
			return fmt.Errorf("gateway: %s: unknown message %q", where, t.Message)
		}
		return nil
	case t.Kind == native.KindList || t.Kind == native.KindMap:
		if t.Kind == native.KindMap && !isMapKey(t.Key) {
			return fmt.Errorf("gateway: %s: map key kind %q is not supported", where, t.Key)
		}
		if t.Elem == nil {
			return fmt.Errorf("gateway: %s: %s without an element type", where, t.Kind)
		}
		if level >= maxDepth {
			return &limitError{fmt.Sprintf("gateway: %s: lists and maps nest deeper than the limit of %d (SchemaLimits.MaxDepth)", where, maxDepth)}
		}
		return checkType(s, t.Elem, where, maxDepth, level+1)
	}
	return fmt.Errorf("gateway: %s: unknown kind %q", where, t.Kind)
}

// checkCycles rejects a message that contains itself through non-optional
// message fields: the transcoder writes the zero value of an unset
// non-optional message, which would never end.
func checkCycles(s *native.Schema, names []string) error {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack, owners []string // field path of the active chain, and the message of each field
	var visit func(name string) error
	visit = func(name string) error {
		state[name] = active
		for _, f := range s.Messages[name].Fields {
			if f.Optional || f.Type.Kind != native.KindMessage {
				continue
			}
			next := f.Type.Message
			stack, owners = append(stack, f.Name), append(owners, name)
			switch state[next] {
			case active:
				i := len(owners) - 1
				for owners[i] != next {
					i--
				}
				return fmt.Errorf("gateway: message %q contains itself through non-optional fields %s; no Go type can", next, strings.Join(stack[i:], "."))
			case unvisited:
				if err := visit(next); err != nil {
					return err
				}
			}
			stack, owners = stack[:len(stack)-1], owners[:len(owners)-1]
		}
		state[name] = done
		return nil
	}
	for _, name := range names {
		if state[name] == unvisited {
			if err := visit(name); err != nil {
				return err
			}
		}
	}
	return nil
}
