package native_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

type fnPinned struct {
	Name  string `json:"name" native:"1"`
	Added string `json:"added" native:"5"` // inserted later, with a new number
	Size  int64  `json:"size" native:"2"`
}

type fnEmbedded struct {
	Inner string `json:"inner" native:"7"`
}

type fnOuter struct {
	fnEmbedded
	Outer int `json:"outer" native:"3"`
}

// TestFieldNumbersInSchema checks that pinned numbers travel in the
// schema, through embedding, and that an unpinned struct has none.
func TestFieldNumbersInSchema(t *testing.T) {
	t.Parallel()
	srv := native.NewServer()
	if err := srv.Register("T.Pinned", func(req *fnPinned, resp *fnOuter) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := srv.Register("T.Plain", func(req *regT, resp *regT) error { return nil }); err != nil {
		t.Fatal(err)
	}
	s, err := srv.Schema()
	if err != nil {
		t.Fatal(err)
	}
	nums := func(msg string) map[string]int32 {
		out := map[string]int32{}
		for _, f := range s.Messages[msg].Fields {
			out[f.Name] = f.Number
		}
		return out
	}
	for msg, want := range map[string]map[string]int32{
		"native_test.fnPinned": {"name": 1, "added": 5, "size": 2},
		"native_test.fnOuter":  {"inner": 7, "outer": 3},
		"native_test.regT":     {"A": 0},
	} {
		got := nums(msg)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: field %s has number %d, want %d (all: %v)", msg, k, got[k], v, got)
			}
		}
	}
	// Unpinned fields keep the JSON of before: no "number" member.
	b, err := json.Marshal(s.Messages["native_test.regT"])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "number") {
		t.Errorf("an unpinned field's JSON mentions a number: %s", b)
	}
}

// TestFieldNumberTagRefused checks that Register refuses bad pins with an
// error naming the field and saying how to fix it.
func TestFieldNumberTagRefused(t *testing.T) {
	t.Parallel()
	type mixed struct {
		A int `native:"1"`
		B int
	}
	type dup struct {
		A int `native:"2"`
		B int `native:"2"`
	}
	type zero struct {
		A int `native:"0"`
	}
	type tooBig struct {
		A int `native:"536870912"`
	}
	type reserved struct {
		A int `native:"19500"`
	}
	type syntax struct {
		A int `native:"number=3"`
	}
	type leadingZero struct {
		A int `native:"03"`
	}
	type embDup struct {
		fnEmbedded
		B int `native:"7"`
	}
	type nested struct {
		In []mixed `native:"1"`
	}
	cases := []struct {
		name string
		fn   any
		want []string
	}{
		{"mixed", func(req *mixed, resp *regT) error { return nil }, []string{"field B has no native:\"N\" tag but field A pins 1", "pin every field of the struct or none", "by position B would be 2"}},
		{"duplicate", func(req *dup, resp *regT) error { return nil }, []string{"fields A and B both have number 2", "give each field its own number"}},
		{"zero", func(req *zero, resp *regT) error { return nil }, []string{"field A: number 0 is out of range", "from 1 to 536870911"}},
		{"too big", func(req *tooBig, resp *regT) error { return nil }, []string{"field A: number 536870912 is out of range"}},
		{"reserved", func(req *reserved, resp *regT) error { return nil }, []string{"field A: number 19500 is in 19000-19999, which protobuf reserves"}},
		{"syntax", func(req *syntax, resp *regT) error { return nil }, []string{`field A: native tag "number=3" is not a field number`, `as in native:"3"`}},
		{"leading zero", func(req *leadingZero, resp *regT) error { return nil }, []string{`native tag "03" is not a field number`}},
		{"embedded duplicate", func(req *embDup, resp *regT) error { return nil }, []string{"fields Inner and B both have number 7"}},
		{"nested", func(req *regT, resp *nested) error { return nil }, []string{"field In[]: field B has no native"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := native.NewServer().Register("Svc.M", c.fn)
			if err == nil {
				t.Fatalf("Register accepted %T", c.fn)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

// TestMessageCheckNumbers checks the rule a gateway applies to a schema
// from another process.
func TestMessageCheckNumbers(t *testing.T) {
	t.Parallel()
	f := func(name string, n int32) native.Field {
		return native.Field{Name: name, Type: native.Type{Kind: native.KindString}, Number: n}
	}
	cases := []struct {
		fields []native.Field
		want   string // "" for valid
	}{
		{[]native.Field{f("a", 0), f("b", 0)}, ""},
		{[]native.Field{f("a", 2), f("b", 1)}, ""},
		{[]native.Field{f("a", 1), f("b", 0)}, `field "b" has no native:"N" tag`},
		{[]native.Field{f("a", -1)}, `field "a": number -1 is out of range`},
		{[]native.Field{f("a", 19000)}, "which protobuf reserves"},
		{[]native.Field{f("a", 3), f("b", 3)}, `fields "a" and "b" both have number 3`},
		{[]native.Field{f(strings.Repeat("x", 1000), 0), f("b", 1)}, `...(1000 bytes)`},
	}
	for _, c := range cases {
		err := (&native.Message{Name: "m", Fields: c.fields}).CheckNumbers()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.fields, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), `native: message "m": `)):
			t.Errorf("%v: error %v, want one containing %q", c.fields, err, c.want)
		}
	}
}
