// Package jsontest holds JSON checks for tests and fuzz targets, written
// independently of the code they check.
package jsontest

import (
	"bytes"
	"encoding/json"
)

// DuplicateName returns a member name that occurs twice in one object of
// data (valid JSON), or "". It walks the tokens of encoding/json's
// Decoder: an implementation independent of the one under test.
func DuplicateName(data []byte) string {
	d := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj   bool
		key   bool // the next token in an object is a key
		names map[string]bool
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			if s, ok := tok.(string); ok {
				if top.names[s] {
					return s
				}
				top.names[s] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, key: true, names: map[string]bool{}})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object expects a key next.
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true
		}
	}
}
