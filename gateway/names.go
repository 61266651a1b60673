package gateway

// This file holds the naming rules that turn native names into protobuf
// names. They are part of the gateway's public contract: a gRPC client sees
// the names chosen here.
//
// Proto package. Every synthesized service and message lives in one proto
// package, "native" unless configured otherwise. It must be a dotted
// sequence of proto identifiers and must not start with "google" (which
// would mix our declarations with the well-known types we import).
//
// Identifiers. A proto identifier is [A-Za-z_][A-Za-z0-9_]*. Every native
// name is made one by a single rule (sanitizeIdent): each rune outside
// [A-Za-z0-9_] (including '.', '-', and any non-ASCII letter) becomes one
// '_', a leading digit gets a '_' prefix, and the empty name becomes "_".
//
// Endpoints. The endpoint "Svc.Method" becomes the gRPC method
// "/<pkg>.<Svc>/<Method>": the name is split at its LAST dot, the part
// before it is the service and the part after it the method, each
// sanitized (so the dots of "files.v1.Store.List" make the service
// "files_v1_Store"). A name without a dot belongs to the service "Default":
// "Ping" becomes "/<pkg>.Default/Ping". Two endpoints that map to the same
// gRPC method are an error naming both.
//
// Messages. A schema message name is "<gopkg>.<Type>[.<Nested>...]"
// ("store.ListRequest", "store.ListResponse.Entry", or with more of the
// package path on collisions, "github_com_a_store.ListRequest"). Its proto
// name is the part after the first dot, sanitized ("ListRequest",
// "ListResponse_Entry") when that short name is unique among the schema's
// messages and differs from every service name; otherwise it is the whole
// name, sanitized ("store_ListRequest"). Two messages (or a message and a
// service) that still end up with the same name are an error naming both.
// Schema messages and services win over synthesized messages (request and
// response wrappers, Upload/Download messages, list and map wrappers, see
// descriptor.go): those take the first free name of a short list of
// candidates and, failing that, the last candidate with "_2", "_3", ...
// appended. Adding an endpoint can therefore rename a synthesized message
// (never a schema message or a method).
//
// Fields. A field's proto name is its JSON name, sanitized. Its json_name is
// always the exact JSON name, so protojson and encoding/json agree on the
// wire. A field whose sanitized name is already taken in its message (by an
// earlier field, or by the implicit "<Name>Entry" message of an earlier map
// field) gets "_<number>" appended, its field number.
//
// Field numbers. A field pinned with a `native:"N"` struct tag
// (native.Field.Number) has that number; every field of a struct that
// pins one must be pinned (all or nothing, see native's package doc,
// checked again here for schemas from other processes), numbers in
// 1..536870911 outside 19000-19999, no two alike. The fields of a struct
// that pins none are numbered by position in native.Message.Fields,
// starting at 1: stable for an unchanged Go struct, but inserting,
// removing or reordering struct fields renumbers the ones after, which a
// client built from the old descriptors cannot tell. The rule is all or
// nothing because no rule for unpinned fields beside pinned ones keeps them
// stable: by position or after the highest pinned number, inserting one
// field moves the next. Fields keep their declaration order in the
// descriptor whatever their numbers. Synthesized messages (request and
// response wrappers, Upload, Download, list and map wrappers) are numbered
// by position; their fields never move. A gateway refuses a new schema
// that changes the number or type of a field it serves (schemachange.go).
// The synthetic oneof of a proto3 optional field is "_<name>", with 'X'
// prepended until it is free (protoc's rule).

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/framegate/framegate/native"
)

// DefaultPackage is the proto package of the synthesized descriptors unless
// configured otherwise.
const DefaultPackage = "native"

// defaultService is the service of endpoints whose name has no dot.
const defaultService = "Default"

// isIdentByte reports whether c may appear in a proto identifier.
func isIdentByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isIdent reports whether s is a valid proto identifier.
func isIdent(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return true
}

// sanitizeIdent turns any string into a proto identifier: every rune outside
// [A-Za-z0-9_] becomes '_', a leading digit gets a '_' prefix, and the empty
// string becomes "_". Valid identifiers are returned unchanged.
func sanitizeIdent(s string) string {
	if isIdent(s) {
		return s
	}
	var b strings.Builder
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		b.WriteByte('_')
	}
	for _, r := range s {
		if r < 0x80 && isIdentByte(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// checkPackage reports whether pkg can be the proto package of the
// synthesized file.
func checkPackage(pkg string) error {
	for _, part := range strings.Split(pkg, ".") {
		if !isIdent(part) {
			return fmt.Errorf("gateway: proto package %q is not a dotted sequence of identifiers", pkg)
		}
	}
	if pkg == "google" || strings.HasPrefix(pkg, "google.") {
		return fmt.Errorf("gateway: proto package %q is reserved for well-known types", pkg)
	}
	return nil
}

// endpointNames returns the proto service and method names of an endpoint.
func endpointNames(endpoint string) (service, method string) {
	i := strings.LastIndexByte(endpoint, '.')
	if i < 0 {
		return defaultService, sanitizeIdent(endpoint)
	}
	return sanitizeIdent(endpoint[:i]), sanitizeIdent(endpoint[i+1:])
}

// fullMethodName returns the gRPC method name "/<pkg>.<service>/<method>".
func fullMethodName(pkg, service, method string) string {
	return "/" + pkg + "." + service + "/" + method
}

// nameTable hands out the top-level names of one proto package and
// remembers who owns each, for error messages.
type nameTable struct {
	owner map[string]string // proto name -> description of its owner
}

// newNameTable returns an empty nameTable.
func newNameTable() *nameTable { return &nameTable{owner: map[string]string{}} }

// claim takes name for owner. It returns the previous owner when the name
// was already taken by someone else.
func (t *nameTable) claim(name, owner string) (prev string, ok bool) {
	if prev, taken := t.owner[name]; taken && prev != owner {
		return prev, false
	}
	t.owner[name] = owner
	return "", true
}

// taken reports whether name is in use.
func (t *nameTable) taken(name string) bool {
	_, ok := t.owner[name]
	return ok
}

// pick takes the first free candidate for owner, or else the last candidate
// with the first free suffix "_2", "_3", ... .
func (t *nameTable) pick(owner string, candidates ...string) string {
	for _, c := range candidates {
		if !t.taken(c) {
			t.owner[c] = owner
			return c
		}
	}
	last := candidates[len(candidates)-1]
	for n := 2; ; n++ {
		c := last + "_" + strconv.Itoa(n)
		if !t.taken(c) {
			t.owner[c] = owner
			return c
		}
	}
}

// messageShortName returns the sanitized part of a schema message name after
// its Go package.
func messageShortName(name string) string {
	if i := strings.IndexByte(name, '.'); i >= 0 {
		return sanitizeIdent(name[i+1:])
	}
	return sanitizeIdent(name)
}

// messageLongName returns the whole schema message name, sanitized.
func messageLongName(name string) string { return sanitizeIdent(name) }

// messageNames chooses the proto name of every schema message (see the
// rules at the top of this file) and claims them in names, which already
// holds the service names. It fails when two owners end up with one name.
func messageNames(msgs map[string]*native.Message, names *nameTable) (map[string]string, error) {
	keys := make([]string, 0, len(msgs))
	for k := range msgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	long := map[string]bool{} // messages that must use their long name
	count := map[string]int{}
	for _, k := range keys {
		count[messageShortName(k)]++
	}
	for _, k := range keys {
		if s := messageShortName(k); count[s] > 1 || names.taken(s) {
			long[k] = true
		}
	}
	// A short name may still equal another message's long name: move the
	// short one to its long name too, until nothing moves. A worklist of
	// the messages moved, so that a chain of moves costs its length, not
	// its length squared.
	byShort := map[string][]string{}
	var moved []string
	for _, k := range keys {
		if long[k] {
			moved = append(moved, k)
		} else {
			s := messageShortName(k)
			byShort[s] = append(byShort[s], k)
		}
	}
	for len(moved) > 0 {
		k := moved[len(moved)-1]
		moved = moved[:len(moved)-1]
		for _, j := range byShort[messageLongName(k)] {
			if !long[j] {
				long[j] = true
				moved = append(moved, j)
			}
		}
	}

	out := make(map[string]string, len(keys))
	for _, k := range keys {
		n := messageShortName(k)
		if long[k] {
			n = messageLongName(k)
		}
		owner := fmt.Sprintf("message %q", k)
		if prev, ok := names.claim(n, owner); !ok {
			return nil, fmt.Errorf("gateway: %s and %s both map to proto name %q", prev, owner, n)
		}
		out[k] = n
	}
	return out, nil
}

// mapEntryName returns the name protoc gives the implicit entry message of a
// map field: the field name in CamelCase with "Entry" appended.
func mapEntryName(field string) string { return camelCase(field, true) + "Entry" }

// defaultJSONName is the json_name protoc gives a field without the
// option: the name in lowerCamelCase.
func defaultJSONName(name string) string { return camelCase(name, false) }

// camelCase drops the underscores of s and upper-cases the letter after
// each one, and the first letter if upperFirst is set (protoc's rule).
func camelCase(s string, upperFirst bool) string {
	var b strings.Builder
	upper := upperFirst
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_':
			upper = true
		case upper && 'a' <= c && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
			upper = false
		default:
			b.WriteByte(c)
			upper = false
		}
	}
	return b.String()
}

// fieldNumber returns the number of field i of a message: pinned, its
// native Number, or else its position from 1.
func fieldNumber(pinned int32, i int) int32 {
	if pinned != 0 {
		return pinned
	}
	return int32(i + 1)
}

// checkFieldNumbers checks the pinned field numbers of every message of s
// (native.Message.CheckNumbers): a schema from another process may break
// the rules its Register would enforce.
func checkFieldNumbers(s *native.Schema) error {
	keys := make([]string, 0, len(s.Messages))
	for k := range s.Messages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := s.Messages[k].CheckNumbers(); err != nil {
			return fmt.Errorf("gateway: %s", strings.TrimPrefix(err.Error(), "native: "))
		}
	}
	return nil
}

// fieldNames returns the proto names of a message's fields (sanitized JSON
// names, made unique within the message with their numbers), and the
// synthetic oneof name of each field for which optional[i] is set ("" for
// the others). isMap[i] says field i is a map, whose implicit entry message
// shares the scope.
func fieldNames(jsonNames []string, numbers []int32, isMap, optional []bool) (names, oneofs []string) {
	scope := map[string]bool{}
	names = make([]string, len(jsonNames))
	for i, jn := range jsonNames {
		base := sanitizeIdent(jn)
		if isMap[i] && !isIdent(mapEntryName(base)) {
			// A map's entry message is named after the field, in
			// CamelCase: "_1st" would give "1stEntry", not a name.
			base = "m" + base
		}
		n := base
		for k := 0; scope[n] || isMap[i] && scope[mapEntryName(n)]; k++ {
			n = base + "_" + strconv.Itoa(int(numbers[i])) + strings.Repeat("_", k)
		}
		scope[n] = true
		if isMap[i] {
			scope[mapEntryName(n)] = true
		}
		names[i] = n
	}
	oneofs = make([]string, len(jsonNames))
	for i, n := range names {
		if !optional[i] {
			continue
		}
		o := "_" + n
		for scope[o] {
			o = "X" + o
		}
		scope[o] = true
		oneofs[i] = o
	}
	return names, oneofs
}
