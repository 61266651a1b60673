package gateway

// Random plain Go struct types, made at run time with reflect.StructOf, and
// random values of them, for the differential tests of the wire codec of
// plain structs (wirevalue_fuzz_test.go).

import (
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"time"
)

// plainScalars are the scalar Go types a plain struct's fields may have.
var plainScalars = []reflect.Type{
	reflect.TypeFor[string](), reflect.TypeFor[bool](),
	reflect.TypeFor[int8](), reflect.TypeFor[int16](), reflect.TypeFor[int32](), reflect.TypeFor[int64](), reflect.TypeFor[int](),
	reflect.TypeFor[uint8](), reflect.TypeFor[uint16](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64](), reflect.TypeFor[uint](),
	reflect.TypeFor[float32](), reflect.TypeFor[float64](),
}

// wvNoCodec are field types the wire codec has none for; nil is an int64
// under `,string`.
var wvNoCodec = []reflect.Type{
	reflect.TypeFor[map[string]int64](), reflect.TypeFor[[]byte](), reflect.TypeFor[time.Time](),
	reflect.TypeFor[[][]int32](), reflect.TypeFor[any](), reflect.TypeFor[[]*int32](), nil,
}

// wvEchoMsg is the bench's EchoMsg (bench/unary.go).
type wvEchoMsg struct {
	ID    int64    `json:"id"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Size  int64    `json:"size"`
	Owner string   `json:"owner"`
}

// wvNames are JSON member names: some differ only in case, or map to the
// same lowerCamel json_name, which the schema builder may refuse.
var wvNames = []string{"a", "b", "id", "name", "tags", "x1", "Size", "size_2", "a_b", "aB", "AB", "q", "long_member_name_9", "z"}

// randPlainType returns a random plain struct type of r, its nested
// structs at most depth levels down.
func randPlainType(r *rand.Rand, depth int) reflect.Type {
	if depth == 0 && r.Intn(16) == 0 {
		return reflect.TypeFor[wvEchoMsg]()
	}
	n := r.Intn(7)
	switch {
	case depth > 1:
		n = r.Intn(3)
	case r.Intn(16) == 0:
		n = 16 + r.Intn(49) // tags of 2 bytes, up to plaintype's 64 fields
	}
	used := map[string]bool{}
	var fields []reflect.StructField
	for i := range n {
		name := wvNames[r.Intn(len(wvNames))]
		if r.Intn(4) == 0 {
			name = fmt.Sprintf("f%d", i)
		}
		if used[name] {
			continue
		}
		used[name] = true
		ft := randFieldType(r, depth)
		tag := name
		switch r.Intn(6) {
		case 0:
			tag += ",omitempty"
		case 1:
			tag += ",omitzero"
		}
		if r.Intn(60) == 0 {
			// What has no wire codec: the method takes the JSON path.
			ft = wvNoCodec[r.Intn(len(wvNoCodec))]
			if ft == nil {
				ft, tag = reflect.TypeFor[int64](), name+",string"
			}
		}
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: ft, Tag: reflect.StructTag(`json:"` + tag + `"`)})
	}
	return reflect.StructOf(fields)
}

// randFieldType returns the type of a field of a struct depth levels down.
func randFieldType(r *rand.Rand, depth int) reflect.Type {
	scalar := func() reflect.Type { return plainScalars[r.Intn(len(plainScalars))] }
	k := r.Intn(10)
	if depth >= 2 && k >= 6 {
		k = r.Intn(6)
	}
	switch k {
	case 0, 1, 2:
		return scalar()
	case 3:
		return reflect.PointerTo(scalar())
	case 4, 5:
		for {
			if t := scalar(); t.Kind() != reflect.Uint8 { // []byte is not plain
				return reflect.SliceOf(t)
			}
		}
	case 6:
		return randPlainType(r, depth+1)
	case 7:
		return reflect.PointerTo(randPlainType(r, depth+1))
	case 8:
		return reflect.SliceOf(randPlainType(r, depth+1))
	}
	return reflect.SliceOf(reflect.PointerTo(randPlainType(r, depth+1)))
}

// wvStrings are interesting strings: empty, escaped in JSON, not UTF-8.
var wvStrings = []string{"", "a", "é日本", "<&>\"\\", "\u2028\x00\x1f", "a\xffb", "\xed\xa0\x80", strings.Repeat("x", 40)}

// randFill sets v, settable, to a random value: zero values, nil and empty
// slices, nil pointers and pointers to zero, NaN, infinities and -0, edge
// integers, strings that are not UTF-8.
func randFill(r *rand.Rand, v reflect.Value, depth int) {
	if r.Intn(6) == 0 {
		return // the zero value
	}
	switch v.Kind() {
	case reflect.String:
		s := wvStrings[r.Intn(len(wvStrings))]
		if r.Intn(3) == 0 {
			s = (&gen{r: r}).string()
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(r.Intn(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		lo, hi := -int64(1)<<(bits-1), int64(1)<<(bits-1)-1
		i := []int64{0, 1, -1, lo, hi, r.Int63n(hi) - r.Int63n(hi), 1<<53 + 1}[r.Intn(7)]
		if v.OverflowInt(i) {
			i = hi
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		hi := uint64(1)<<(v.Type().Bits()-1)*2 - 1
		v.SetUint([]uint64{0, 1, hi, r.Uint64() & hi, (1<<53 + 1) & hi}[r.Intn(5)])
	case reflect.Float32, reflect.Float64:
		v.SetFloat([]float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), 1.5, -0.1, 1e21, 1e-7,
			math.SmallestNonzeroFloat64, math.MaxFloat32, r.NormFloat64() * 1e6}[r.Intn(12)])
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if r.Intn(3) > 0 {
			randFill(r, p.Elem(), depth+1)
		}
		v.Set(p)
	case reflect.Slice:
		n := r.Intn(4)
		if depth > 3 {
			n = r.Intn(2)
		}
		s := reflect.MakeSlice(v.Type(), n, n) // n == 0: empty, not nil
		for i := range n {
			if e := s.Index(i); e.Kind() != reflect.Pointer || r.Intn(8) > 0 {
				randFill(r, e, depth+1)
			}
		}
		v.Set(s)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
	case reflect.Interface:
		v.Set(reflect.ValueOf(wvStrings[r.Intn(len(wvStrings))]))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(r.Int63n(1<<34), 0).UTC()))
			return
		}
		for i := range v.NumField() {
			randFill(r, v.Field(i), depth+1)
		}
	default:
		panic("randFill: " + v.Type().String())
	}
}
