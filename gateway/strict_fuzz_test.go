package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/framegate/framegate/internal/jsontest"
)

// FuzzJSONReader checks the gateway's JSON reader against encoding/json,
// which is what it replaced. Read leniently (responses), it is
// encoding/json with UseNumber: the same values from the same input, the
// same inputs refused. Read strictly (requests), it takes a subset: the
// same values, and nothing with a duplicate member.
func FuzzJSONReader(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[1,"a",true,null,{"b":[]}]`, `{"a":1,"a":2}`, `{"a":{"b":1,"c":{"b":2}}}`,
		`{"a":1,"A":1}`, `1e400`, `-0.0e-0`, `"\ud83d\ude00"`, `"\ud800"`, "\"\xff\"", `{"a":1} x`,
		`{"a":1}{}`, ` [ ] `, `[1,]`, `{"a"}`, `"\u0000"`, `123456789012345678901234567890`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := decodeV1(data)
		lenient, lerr := jsonReader{}.parse(data)
		if (werr == nil) != (lerr == nil) {
			t.Fatalf("%q: encoding/json says %v, lenient reader %v", data, werr, lerr)
		}
		if werr == nil && !reflect.DeepEqual(want, lenient) {
			t.Fatalf("%q: encoding/json read %#v, lenient reader %#v", data, want, lenient)
		}
		strict, serr := jsonReader{strict: true}.parse(data)
		if serr != nil {
			if len(serr.Error()) > 600 {
				t.Fatalf("%q: an error of %d bytes", data, len(serr.Error()))
			}
			return
		}
		if werr != nil {
			t.Fatalf("%q: strict reader accepts what encoding/json refuses: %v", data, werr)
		}
		if !reflect.DeepEqual(want, strict) {
			t.Fatalf("%q: encoding/json read %#v, strict reader %#v", data, want, strict)
		}
		if dup := jsontest.DuplicateName(data); dup != "" {
			t.Fatalf("%q: strict reader accepts the duplicate member %q", data, dup)
		}
	})
}

// decodeV1 is the reader the gateway had: encoding/json with UseNumber,
// one value and nothing after it.
func decodeV1(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	return v, nil
}
