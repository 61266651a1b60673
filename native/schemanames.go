package native

// This file names the messages buildSchema collects. The rules:
//
//   - A named struct type is "<package name>.<type name>" ("store.ListRequest").
//     The package name is the one Go prints for the type (reflect's
//     Type.String), which is the last element of the import path except for
//     major-version suffixes (".../store/v2" is still "store") and the like.
//   - Type names of generic instantiations keep their type arguments with
//     import paths cut to their last element, then are sanitized:
//     Page[int] -> Page_int, Pair[string,example.com/x/store.Key] ->
//     Pair_string_store_Key.
//   - Sanitizing (package names, type names, field names, endpoint names)
//     turns every maximal run of runes outside [A-Za-z0-9_] into one '_' and
//     drops such a run at the end; an empty result becomes "_". Existing
//     underscores are kept as they are; a result starting with a digit gets
//     a leading '_' (protobuf identifiers cannot start with one).
//   - When two different types get the same name, every one of them takes
//     its full import path instead, sanitized, with the sanitized full type
//     name (type arguments with full import paths):
//     "github_com_a_store.ListRequest".
//   - If names still collide (generic arguments that differ only in
//     punctuation, such as Page[int] and Page[[]int], or types declared in
//     different functions with the same name), the types are ordered by
//     package path, type name and field list, and all but the first get a
//     suffix "_2", "_3"... after the type name. Types equal in all of those
//     (only possible for identical local types) are ordered by when they are
//     first met walking the endpoints in name order.
//   - An anonymous struct type is named after where it is first met walking
//     the endpoints in name order, request before response, fields in
//     message order: "<enclosing message>.<Go field name>" for a field (its
//     list elements and map values included), "<endpoint>.Request" or
//     "<endpoint>.Response" at the top of an endpoint (the endpoint name
//     sanitized: "store.List" -> "store_List.Request"). One anonymous type
//     used in several places is one message. A name already taken gets the
//     suffix "_2", "_3"..., in the same walk order.
//
// Everything depends only on the set of endpoints and their types, never on
// the order they were registered in.

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// assignNames names every message reachable from tops (which must be in
// endpoint name order) and returns them in walk order.
func (b *schemaBuilder) assignNames(tops []schemaTop) []*schemaMsg {
	used := map[string]bool{}
	unique := func(name string) string {
		n := name
		for i := 2; used[n]; i++ {
			n = fmt.Sprintf("%s_%d", name, i)
		}
		used[n] = true
		return n
	}

	// Named types: short names, full names where short ones collide.
	var named []*schemaMsg
	byShort := map[string][]*schemaMsg{}
	for _, m := range b.order {
		if m.t.Name() != "" {
			named = append(named, m)
			short := schemaShortName(m.t)
			byShort[short] = append(byShort[short], m)
		}
	}
	byName := map[string][]*schemaMsg{}
	for short, ms := range byShort {
		for _, m := range ms {
			n := short
			if len(ms) > 1 {
				n = schemaFullName(m.t)
			}
			byName[n] = append(byName[n], m)
		}
	}
	names := make([]string, 0, len(byName))
	for n, ms := range byName {
		names = append(names, n)
		if len(ms) == 1 {
			ms[0].name = n
			used[n] = true
		}
	}
	slices.Sort(names)
	for _, n := range names {
		ms := byName[n]
		if len(ms) == 1 {
			continue
		}
		slices.SortStableFunc(ms, func(a, b *schemaMsg) int {
			if c := strings.Compare(schemaSortKey(a.t), schemaSortKey(b.t)); c != 0 {
				return c
			}
			return a.seq - b.seq
		})
		for _, m := range ms {
			m.name = unique(n)
		}
	}

	// Anonymous types, and the set of reachable messages, by walking.
	var out []*schemaMsg
	visited := map[*schemaMsg]bool{}
	var claim func(n *schemaNode, candidate string)
	visit := func(m *schemaMsg) {
		if visited[m] {
			return
		}
		visited[m] = true
		out = append(out, m)
		for _, f := range m.fields {
			claim(f.node, m.name+"."+schemaSanitize(f.goName))
		}
	}
	claim = func(n *schemaNode, candidate string) {
		for ; n != nil; n = n.elem {
			if n.msg == nil {
				continue
			}
			if n.msg.name == "" {
				n.msg.name = unique(candidate)
			}
			visit(n.msg)
		}
	}
	for _, top := range tops {
		claim(top.req, top.prefix+".Request")
		claim(top.resp, top.prefix+".Response")
		claim(top.reqMsg, top.prefix+".RequestMessage")
		claim(top.respMsg, top.prefix+".ResponseMessage")
	}
	return out
}

// schemaShortName is "<package name>.<type name>" for a named type.
func schemaShortName(t reflect.Type) string {
	pkg := t.PkgPath()
	if s, ok := strings.CutSuffix(t.String(), "."+t.Name()); ok && s != "" {
		pkg = s
	} else if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		pkg = pkg[i+1:]
	}
	return schemaSanitize(pkg) + "." + schemaSanitize(schemaCutPaths(t.Name()))
}

// schemaFullName is "<import path>.<type name>", sanitized.
func schemaFullName(t reflect.Type) string {
	return schemaSanitize(t.PkgPath()) + "." + schemaSanitize(t.Name())
}

// schemaSortKey orders types that collide even by full name.
func schemaSortKey(t reflect.Type) string {
	var sb strings.Builder
	sb.WriteString(t.PkgPath())
	sb.WriteByte(0)
	sb.WriteString(t.Name())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fmt.Fprintf(&sb, "\x00%s %v %q %t", f.Name, f.Type, f.Tag, f.Anonymous)
	}
	return sb.String()
}

// schemaCutPaths shortens the import paths in a type name's type arguments
// to their last element: "Page[example.com/x/store.Key]" becomes
// "Page[store.Key]".
func schemaCutPaths(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	var sb strings.Builder
	start := 0 // start of the current run of import path characters
	for i, r := range name {
		if !schemaPathRune(r) {
			sb.WriteString(schemaLastElem(name[start:i]))
			sb.WriteRune(r)
			start = i + len(string(r))
		}
	}
	sb.WriteString(schemaLastElem(name[start:]))
	return sb.String()
}

// schemaPathRune reports whether r may appear in an import path.
func schemaPathRune(r rune) bool {
	return r == '/' || r == '.' || r == '-' || r == '_' || r == '~' || r == '+' ||
		r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// schemaLastElem returns what follows the last '/' in s.
func schemaLastElem(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// schemaSanitize makes s an identifier of [A-Za-z0-9_] runes: each maximal
// run of other runes becomes one '_', a run at the end is dropped, a leading
// digit gets a '_' before it, and an empty result becomes "_".
func schemaSanitize(s string) string {
	var sb strings.Builder
	pending := false
	for _, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			if pending {
				sb.WriteByte('_')
				pending = false
			}
			sb.WriteRune(r)
		} else {
			pending = true
		}
	}
	out := sb.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "_" + out
	}
	return out
}
