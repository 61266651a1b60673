package jsontest

import "testing"

func TestDuplicateName(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"b":2}`:                 "",
		`{"a":1,"a":2}`:                 "a",
		`{"a":{"b":1},"c":{"b":2}}`:     "",
		`{"a":[{"x":1,"x":2}]}`:         "x",
		`[{"k":"k"},{"k":"k"}]`:         "",
		`{"a":["a","a"],"b":{"a":"a"}}`: "",
		`{"o":{"p":[1,{"q":1}],"p":2}}`: "p",
		`{"\u0061":1,"a":2}`:            "a",
		`{"a":1,"A":2}`:                 "",
		`not json`:                      "",
	} {
		if got := DuplicateName([]byte(in)); got != want {
			t.Errorf("DuplicateName(%s) = %q, want %q", in, got, want)
		}
	}
}
