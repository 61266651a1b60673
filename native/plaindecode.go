package native

// The decoding half of the plain codec (plainjson.go says what it is).

import (
	"bytes"
	"encoding/json"
	jsonv2 "encoding/json/v2"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/framegate/framegate/internal/jsonstr"
)

// plainMode is the rule the plain codec decodes by: the one of the decoder
// it stands in for.
type plainMode uint8

const (
	// plainStrict is strictJSON's: an unknown member is declined (v2
	// refuses it, and its error names it).
	plainStrict plainMode = iota
	// plainMessage is messageJSON's: an unknown member is skipped.
	plainMessage
	// plainV1 is encoding/json's Unmarshal: an unknown member is skipped
	// unless its name may match a field's but for case (v1 then sets that
	// field), which is declined.
	plainV1
)

// unmarshalJSON is jsonv2.Unmarshal(data, v, strictJSON), or with
// messageJSON when lenient, for v a pointer to a zero value: through the
// plain codec when it handles the input.
func unmarshalJSON(data []byte, v any, lenient bool) error {
	if !lenient {
		if decodePlainJSON(data, v, plainStrict) {
			return nil
		}
		return jsonv2.Unmarshal(data, v, strictJSON)
	}
	if decodePlainJSON(data, v, plainMessage) {
		return nil
	}
	return jsonv2.Unmarshal(data, v, messageJSON)
}

// unmarshalResponse is json.Unmarshal(data, v), the rule a caller reads a
// response by: through the plain codec when v points to a zero plain
// struct and the codec handles the input.
func unmarshalResponse(data []byte, v any) error {
	if decodePlainJSON(data, v, plainV1) {
		return nil
	}
	return json.Unmarshal(data, v)
}

// decodePlainJSON decodes data into v as the decoder of mode does, when v
// points to a zero plain struct and data is input the plain codec
// handles. Otherwise it reports false and v is as it was.
func decodePlainJSON(data []byte, v any, mode plainMode) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	t := rv.Type().Elem()
	c := plainCodecFor(t)
	p := rv.UnsafePointer()
	// A plain type's zero value is all zero bytes (a float's -0 is not
	// zero to reflect either); padding that is not zero, or a type over
	// 1 KiB, only sends a zero value the slow way.
	if c == nil || !allZero(unsafe.Slice((*byte)(p), t.Size())) {
		return false
	}
	r := plainReader{headerDecoder: headerDecoder{b: data}, mode: mode}
	if r.peek() == '{' && r.value(c, p) {
		r.ws()
		if r.i == len(r.b) {
			return true
		}
	}
	rv.Elem().SetZero()
	return false
}

// allZero reports whether every byte of b is zero, for b up to 1 KiB.
func allZero(b []byte) bool {
	return len(b) <= len(zeroBytes) && string(b) == string(zeroBytes[:len(b)])
}

var zeroBytes [1024]byte

// plainReader reads JSON for the plain codec with the header decoder's
// scanner. Each method reads one value and reports false to decline.
type plainReader struct {
	headerDecoder
	mode plainMode
	buf  []byte // unescaped string bytes
	src  string // b as a string, made once for substring
}

// value decodes the JSON value at r's position into the zero value of
// type t at p. null leaves it zero, as encoding/json/v2 with v1's rules
// does for every kind.
func (r *plainReader) value(t *plainType, p unsafe.Pointer) bool {
	switch t.Kind {
	case plainString:
		return r.str((*string)(p))
	case plainBool:
		if r.literal("true") {
			*(*bool)(p) = true
			return true
		}
		return r.literal("false") || r.literal("null")
	case plainInt, plainUint:
		return r.int(t.Size, t.Kind == plainInt, p)
	case plainFloat:
		return r.float(t.Size, p)
	case plainStrings:
		return r.strings((*[]string)(p))
	case plainSlice:
		return r.slice(t, p)
	case plainPointer:
		if r.literal("null") {
			return true
		}
		v := reflect.New(t.Elem.Go).UnsafePointer()
		if !r.value(t.Elem, v) {
			return false
		}
		*(*unsafe.Pointer)(p) = v
		return true
	case plainStruct:
		return r.object(t.Fields, p)
	}
	return false
}

// str decodes a string into p, or null (p stays as it is).
func (r *plainReader) str(p *string) bool {
	switch r.peek() {
	case 'n':
		return r.literal("null")
	case '"':
	default:
		return false
	}
	raw, plain, err := r.quoted()
	switch {
	case err != nil:
		return false
	case plain:
		*p = r.substring(raw)
		return true
	case bytes.IndexByte(raw, '\\') < 0:
		if !utf8.Valid(raw) {
			return false
		}
		*p = r.substring(raw)
		return true
	}
	var ok bool
	r.buf, ok = jsonstr.AppendUnquoted(r.buf[:0], raw)
	if ok {
		*p = string(r.buf)
	}
	return ok
}

// plainShareMax is the largest input whose strings share one copy of it:
// one allocation for all of a message's strings rather than one each. A
// string kept from such a message keeps at most this many bytes alive.
const plainShareMax = 1 << 10

// substring returns raw, the text of the string just read, as a string.
func (r *plainReader) substring(raw []byte) string {
	if len(r.b) > plainShareMax {
		return string(raw)
	}
	if r.src == "" {
		r.src = string(r.b)
	}
	end := r.i - 1
	return r.src[end-len(raw) : end]
}

// integer reads a JSON integer: its sign and magnitude. It declines a
// fraction, an exponent and a magnitude over 64 bits.
func (r *plainReader) integer() (neg bool, mag uint64, ok bool) {
	num, err := r.number()
	if err != nil {
		return false, 0, false
	}
	if num[0] == '-' {
		neg, num = true, num[1:]
	}
	for _, c := range num {
		if c < '0' || c > '9' || mag > (1<<64-1)/10 {
			return false, 0, false
		}
		next := mag*10 + uint64(c-'0')
		if next < mag {
			return false, 0, false
		}
		mag = next
	}
	return neg, mag, true
}

// int decodes an integer of size bytes, signed or not, into p. It
// declines what is out of range, and a minus sign on an unsigned integer,
// even on 0 (v2 refuses it).
func (r *plainReader) int(size uintptr, signed bool, p unsafe.Pointer) bool {
	if r.literal("null") {
		return true
	}
	neg, mag, ok := r.integer()
	if !ok {
		return false
	}
	bits := size * 8
	switch {
	case signed && neg && mag <= 1<<(bits-1):
		mag = -mag // two's complement: truncated below, the signed value
	case signed && !neg && mag < 1<<(bits-1):
	case !signed && !neg && (bits == 64 || mag < 1<<bits):
	default:
		return false
	}
	switch size {
	case 1:
		*(*uint8)(p) = uint8(mag)
	case 2:
		*(*uint16)(p) = uint16(mag)
	case 4:
		*(*uint32)(p) = uint32(mag)
	default:
		*(*uint64)(p) = mag
	}
	return true
}

// float decodes a float32 or float64 (size 4 or 8) into p, declining what
// is out of range.
func (r *plainReader) float(size uintptr, p unsafe.Pointer) bool {
	if r.literal("null") {
		return true
	}
	num, err := r.number()
	if err != nil {
		return false
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), int(size*8))
	if err != nil {
		return false
	}
	if size == 4 {
		*(*float32)(p) = float32(f)
	} else {
		*(*float64)(p) = f
	}
	return true
}

// strings reads null or an array of strings into s, allocating it once.
func (r *plainReader) strings(s *[]string) bool {
	if null, ok := r.arrayStart(); null || !ok {
		return ok
	}
	if r.peek() == ']' {
		r.i++
		*s = []string{}
		return true
	}
	var buf [16]string
	vals := buf[:0]
	for {
		var v string
		if !r.str(&v) {
			return false
		}
		vals = append(vals, v)
		if more, ok := r.more(']'); !more {
			*s = slices.Clone(vals)
			return ok
		}
	}
}

// slice reads null or an array into the slice of type t at p: null leaves
// it nil, [] makes it empty but not nil, as encoding/json/v2 does.
func (r *plainReader) slice(t *plainType, p unsafe.Pointer) bool {
	if null, ok := r.arrayStart(); null || !ok {
		return ok
	}
	s := reflect.NewAt(t.Go, p).Elem()
	if r.peek() == ']' {
		r.i++
		s.Set(reflect.MakeSlice(t.Go, 0, 0))
		return true
	}
	for n := 0; ; n++ {
		s.Grow(1)
		s.SetLen(n + 1)
		if !r.value(t.Elem, s.Index(n).Addr().UnsafePointer()) {
			return false
		}
		if more, ok := r.more(']'); !more {
			return ok
		}
	}
}

// arrayStart consumes null or the '[' of an array; anything else is
// declined.
func (r *plainReader) arrayStart() (null, ok bool) {
	switch r.peek() {
	case 'n':
		return true, r.literal("null")
	case '[':
		r.i++
		return false, true
	}
	return false, false
}

// object decodes null or an object into the struct with fields at p.
func (r *plainReader) object(fields []plainField, p unsafe.Pointer) bool {
	switch r.peek() {
	case 'n':
		return r.literal("null")
	case '{':
	default:
		return false
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		return true
	}
	var seen uint64
	var unknownBuf [4][]byte
	unknown := unknownBuf[:0]
	for {
		if r.peek() != '"' {
			return false
		}
		name, plain, err := r.quoted()
		if err != nil || !plain && (bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name)) {
			return false
		}
		k := 0
		for k < len(fields) && fields[k].Name != string(name) {
			k++
		}
		if r.peek() != ':' {
			return false
		}
		r.i++
		if k < len(fields) {
			if seen&(1<<k) != 0 || !r.value(fields[k].Type, unsafe.Add(p, fields[k].Offset)) {
				return false
			}
			seen |= 1 << k
		} else {
			// v2 refuses an unknown name repeated too.
			if r.mode == plainStrict || r.mode == plainV1 && foldsToField(name, fields) || len(unknown) == cap(unknown) ||
				slices.ContainsFunc(unknown, func(u []byte) bool { return bytes.Equal(u, name) }) ||
				!r.skipValue(0) {
				return false
			}
			unknown = append(unknown, name)
		}
		if more, ok := r.more('}'); !more {
			return ok
		}
	}
}

// foldsToField reports whether encoding/json's case-insensitive matching
// may take name for one of fields: it matches one but for ASCII case, or
// has non-ASCII bytes (Unicode folds 'K' and 'S' to non-ASCII runes too).
func foldsToField(name []byte, fields []plainField) bool {
	for _, c := range name {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for i := range fields {
		if len(fields[i].Name) == len(name) && asciiEqualFold(fields[i].Name, name) {
			return true
		}
	}
	return false
}

func asciiEqualFold(s string, b []byte) bool {
	for i := range len(s) {
		x, y := s[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// more consumes what follows a member or an element: a comma (more) or
// end, or anything else (declined).
func (r *plainReader) more(end byte) (more, ok bool) {
	switch r.peek() {
	case ',':
		r.i++
		return true, true
	case end:
		r.i++
		return false, true
	}
	return false, false
}

// skipValue consumes an unknown member's value, declining objects (whose
// repeated names encoding/json/v2 refuses) and strings it would refuse.
func (r *plainReader) skipValue(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	switch c := r.peek(); {
	case c == '"':
		var s string
		return r.str(&s)
	case c == '[':
		r.i++
		if r.peek() == ']' {
			r.i++
			return true
		}
		for {
			if !r.skipValue(depth + 1) {
				return false
			}
			if more, ok := r.more(']'); !more {
				return ok
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := r.number()
		return err == nil
	default:
		return r.literal("null") || r.literal("true") || r.literal("false")
	}
}
