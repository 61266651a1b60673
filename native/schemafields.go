package native

// This file lists a struct's JSON fields the way encoding/json does.

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// schemaJSONField is one struct field as encoding/json sees it.
type schemaJSONField struct {
	name   string       // JSON member name
	goName string       // Go field name
	tag    bool         // name came from the json tag
	index  []int        // index sequence from the top struct
	typ    reflect.Type // the field's declared type
	quoted bool         // `json:",string"` on a kind that honors it
	// viaPtr is set when the field is promoted through an embedded pointer:
	// it is absent when that pointer is nil.
	viaPtr bool
	// unexportedPtr is the struct type of an embedded pointer to an
	// unexported type on the way to the field, if any.
	unexportedPtr reflect.Type
	// numTag is the value of the field's FieldNumberTag tag; hasNum says
	// the tag is there.
	numTag string
	hasNum bool
}

// schemaJSONFields returns the fields encoding/json encodes for struct type
// t, in the order it writes them. It follows typeFields in
// encoding/json/encode.go step by step: the same exploration of embedded
// structs, the same dominance rules, the same final order.
func schemaJSONFields(t reflect.Type) []schemaJSONField {
	type queued struct {
		typ           reflect.Type
		index         []int
		viaPtr        bool
		unexportedPtr reflect.Type
	}
	current := []queued{}
	next := []queued{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []schemaJSONField

	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true
			for i := 0; i < f.typ.NumField(); i++ {
				sf := f.typ.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue // embedded unexported non-struct
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !schemaValidTag(name) {
					name = ""
				}
				index := make([]int, len(f.index)+1)
				copy(index, f.index)
				index[len(f.index)] = i

				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				quoted := false
				if slices.Contains(strings.Split(opts, ","), "string") {
					_, quoted = schemaScalarKind(ft.Kind())
				}

				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					tagged := name != ""
					if name == "" {
						name = sf.Name
					}
					numTag, hasNum := sf.Tag.Lookup(FieldNumberTag)
					fields = append(fields, schemaJSONField{
						name: name, goName: sf.Name, tag: tagged, index: index, typ: sf.Type,
						quoted: quoted, viaPtr: f.viaPtr, unexportedPtr: f.unexportedPtr,
						numTag: numTag, hasNum: hasNum,
					})
					if count[f.typ] > 1 {
						// Met more than once at this depth: a duplicate makes
						// the dominance step below drop it, as encoding/json.
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					q := queued{typ: ft, index: index, viaPtr: f.viaPtr, unexportedPtr: f.unexportedPtr}
					if sf.Type.Kind() == reflect.Pointer {
						q.viaPtr = true
						if !sf.IsExported() && q.unexportedPtr == nil {
							q.unexportedPtr = ft
						}
					}
					next = append(next, q)
				}
			}
		}
	}

	slices.SortFunc(fields, func(a, b schemaJSONField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tag != b.tag {
			if a.tag {
				return -1
			}
			return +1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for advance, i := 0, 0; i < len(fields); i += advance {
		for advance = 1; i+advance < len(fields) && fields[i+advance].name == fields[i].name; advance++ {
		}
		same := fields[i : i+advance]
		// The first field dominates, unless the next one is as shallow and
		// as tagged: then Go's rules make the name ambiguous and both go.
		if len(same) > 1 && len(same[0].index) == len(same[1].index) && same[0].tag == same[1].tag {
			continue
		}
		out = append(out, same[0])
	}
	slices.SortFunc(out, func(a, b schemaJSONField) int { return slices.Compare(a.index, b.index) })
	return out
}

// schemaInvalidTagName returns the path and tag name of the first field of
// struct type t, or of a struct embedded in it, whose json tag has a name
// that schemaValidTag refuses; "" if there is none.
func schemaInvalidTagName(t reflect.Type, path string, seen map[reflect.Type]bool) (string, string) {
	if seen[t] {
		return "", ""
	}
	seen[t] = true
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		if name, _, _ := strings.Cut(tag, ","); name != "" && !schemaValidTag(name) && (sf.IsExported() || sf.Anonymous) {
			return schemaFieldPath(path, sf.Name), name
		}
		if sf.Anonymous {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if fp, name := schemaInvalidTagName(et, schemaFieldPath(path, sf.Name), seen); fp != "" {
					return fp, name
				}
			}
		}
	}
	return "", ""
}

// schemaValidTag reports whether s is a name encoding/json accepts in a tag
// (isValidTag in encoding/json).
func schemaValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// schemaFieldNumbers returns the pinned numbers of a struct's fields jf (all
// 0 when none is pinned), checked by checkFieldNumbers. path locates the
// struct for errors.
func schemaFieldNumbers(jf []schemaJSONField, path string) ([]int32, error) {
	names := make([]string, len(jf))
	nums := make([]int32, len(jf))
	pinned := make([]bool, len(jf))
	for i, f := range jf {
		names[i], pinned[i] = f.goName, f.hasNum
		if !f.hasNum {
			continue
		}
		n, err := parseFieldNumberTag(f.numTag)
		if err != nil {
			return nil, &schemaPathError{schemaFieldPath(path, f.goName), err.Error()}
		}
		nums[i] = n
	}
	if err := checkFieldNumbers(names, nums, pinned); err != nil {
		return nil, &schemaPathError{path, err.Error()}
	}
	return nums, nil
}
