package native

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// spItem is a rich type for the property test.
type spItem struct {
	ID     int64     `json:"id,string"`
	Tags   []string  `json:"tags,omitempty"`
	Score  float32   `json:"score"`
	Flag   bool      `json:",string"`
	Name   string    `json:"name,string"`
	When   time.Time `json:"when"`
	Dur    time.Duration
	Blob   []byte `json:"blob"`
	Arr    [3]byte
	IP     net.IP
	Addr   netip.Addr `json:"addr,omitempty"`
	Raw    json.RawMessage
	Num    json.Number
	Any    any
	Text   encoding.TextMarshaler `json:"text,omitzero"`
	VM     sbValueMarshaler
	PM     sbPtrMarshaler
	PT     sbPtrText
	TI     sbTextInt `json:",string"`
	ByInt  map[int16]string
	ByText map[netip.Addr]*spItem
	ByU    map[uint64][]spItem
	Opt    *string
	OptP   **int8 `json:"opt_p"`
	Anon   struct {
		A uint8
		B []struct {
			C string `json:"c"`
		}
	}
	Dash   int `json:"-,"`
	Skip   int `json:"-"`
	hidden int
	sbEmbA
	*SbEmbExported
	Page sbPage[sbNode] `json:"page"`
}

// TestSchemaMatchesEncodingJSON encodes populated values of rich types with
// encoding/json and checks the result against their schema: every member is
// a field of the right shape, and every field of every message shows up.
func TestSchemaMatchesEncodingJSON(t *testing.T) {
	types := []reflect.Type{
		reflect.TypeFor[spItem](),
		reflect.TypeFor[sbFields](),
		reflect.TypeFor[sbNode](),
		reflect.TypeFor[sbTreeA](),
		reflect.TypeFor[sbAnonOuter](),
		reflect.TypeFor[sbAnonCol](),
		reflect.TypeFor[sbEmbConflict](),
		reflect.TypeFor[sbEmbTagWins](),
		reflect.TypeFor[sbEmbShallow](),
		reflect.TypeFor[sbEmbPtr](),
		reflect.TypeFor[sbEmbTagged](),
		reflect.TypeFor[sbEmbNonStruct](),
		reflect.TypeFor[sbEmbDup](),
		reflect.TypeFor[sbEmbDeep](),
		reflect.TypeFor[sbEmbIface](),
		reflect.TypeFor[SbEmbRec](),
		reflect.TypeFor[map[string][]*sbPair[int8, sbListNode]](),
		reflect.TypeFor[Schema](),
	}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			sc, top := sbBuild(t, typ)
			p := reflect.New(typ)
			spFill(p.Elem(), map[reflect.Type]int{})
			data, err := json.Marshal(p.Interface())
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			c := &spChecker{t: t, sc: sc, seen: map[string]bool{}}
			c.check("$", top, v, false)
			for name, m := range sc.Messages {
				for _, f := range m.Fields {
					if !c.seen[name+"\x00"+f.Name] {
						t.Errorf("field %s.%s never written in %s", name, f.Name, data)
					}
				}
			}
			if t.Failed() {
				t.Logf("JSON: %s", data)
			}
		})
	}
}

// spChecker walks a decoded JSON value alongside its schema Type.
type spChecker struct {
	t    *testing.T
	sc   *Schema
	seen map[string]bool // "message\x00field" written at least once
}

// check checks v at path against ty; nullable says a JSON null is fine.
func (c *spChecker) check(path string, ty *Type, v any, nullable bool) {
	t := c.t
	if v == nil {
		switch ty.Kind {
		case KindAny, KindList, KindMap, KindBytes:
		default:
			if !nullable {
				t.Errorf("%s: null for non-optional %s", path, sbShape(ty))
			}
		}
		return
	}
	switch ty.Kind {
	case KindAny:
	case KindBool:
		if _, ok := v.(bool); !ok {
			t.Errorf("%s: %#v is not a bool", path, v)
		}
	case KindInt32, KindInt64, KindUint32, KindUint64, KindFloat32, KindFloat64:
		n, ok := v.(json.Number)
		if !ok {
			t.Errorf("%s: %#v is not a number", path, v)
			return
		}
		spCheckNumber(t, path, ty.Kind, string(n))
	case KindString:
		if _, ok := v.(string); !ok {
			t.Errorf("%s: %#v is not a string", path, v)
		}
	case KindBytes:
		s, ok := v.(string)
		if _, err := base64.StdEncoding.DecodeString(s); !ok || err != nil {
			t.Errorf("%s: %#v is not base64", path, v)
		}
	case KindTimestamp:
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); !ok || err != nil {
			t.Errorf("%s: %#v is not a timestamp", path, v)
		}
	case KindList:
		l, ok := v.([]any)
		if !ok {
			t.Errorf("%s: %#v is not a list", path, v)
		}
		for i, e := range l {
			c.check(path+"["+strconv.Itoa(i)+"]", ty.Elem, e, true)
		}
	case KindMap:
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: %#v is not an object", path, v)
		}
		for k, e := range m {
			if ty.Key != KindString {
				spCheckNumber(t, path+" key", ty.Key, k)
			}
			c.check(path+"["+k+"]", ty.Elem, e, true)
		}
	case KindMessage:
		c.message(path, c.sc.Messages[ty.Message], v)
	default:
		t.Errorf("%s: unknown kind %q", path, ty.Kind)
	}
}

// message checks an object against a message.
func (c *spChecker) message(path string, msg *Message, v any) {
	t := c.t
	obj, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: %#v is not an object for %s", path, v, msg.Name)
		return
	}
	fields := map[string]Field{}
	for _, f := range msg.Fields {
		fields[f.Name] = f
	}
	for name, member := range obj {
		f, ok := fields[name]
		if !ok {
			t.Errorf("%s: member %q is not a field of %s", path, name, msg.Name)
			continue
		}
		c.seen[msg.Name+"\x00"+name] = true
		fp := path + "." + name
		if f.Quoted && member != nil {
			s, ok := member.(string)
			if !ok {
				t.Errorf("%s: quoted %#v is not a string", fp, member)
				continue
			}
			d := json.NewDecoder(bytes.NewReader([]byte(s)))
			d.UseNumber()
			if err := d.Decode(&member); err != nil {
				t.Errorf("%s: quoted %q: %v", fp, s, err)
				continue
			}
		}
		c.check(fp, &f.Type, member, f.Optional)
	}
}

// spCheckNumber checks that s is a number of kind k.
func spCheckNumber(t *testing.T, path string, k Kind, s string) {
	var err error
	switch k {
	case KindInt32:
		_, err = strconv.ParseInt(s, 10, 32)
	case KindInt64:
		_, err = strconv.ParseInt(s, 10, 64)
	case KindUint32:
		_, err = strconv.ParseUint(s, 10, 32)
	case KindUint64:
		_, err = strconv.ParseUint(s, 10, 64)
	case KindFloat32:
		_, err = strconv.ParseFloat(s, 32)
	case KindFloat64:
		_, err = strconv.ParseFloat(s, 64)
	default:
		t.Errorf("%s: %q is a %s, not a number kind", path, s, k)
	}
	if err != nil {
		t.Errorf("%s: %q is not a %s: %v", path, s, k, err)
	}
}

// spFill sets every settable part of v to a non-zero value, following a
// recursive type at most twice (depth counts the structs being filled).
func spFill(v reflect.Value, depth map[reflect.Type]int) {
	t := v.Type()
	if v.CanSet() {
		switch t {
		case reflect.TypeFor[time.Time]():
			v.Set(reflect.ValueOf(time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)))
			return
		case reflect.TypeFor[json.RawMessage]():
			v.Set(reflect.ValueOf(json.RawMessage(`{"k":[1,"x"]}`)))
			return
		case reflect.TypeFor[net.IP]():
			v.Set(reflect.ValueOf(net.IPv4(10, 0, 0, 1)))
			return
		case reflect.TypeFor[netip.Addr]():
			v.Set(reflect.ValueOf(netip.MustParseAddr("::1")))
			return
		case reflect.TypeFor[json.Number]():
			v.SetString("12.5")
			return
		}
	}
	deep := func(e reflect.Type) bool {
		for e.Kind() == reflect.Pointer || e.Kind() == reflect.Slice || e.Kind() == reflect.Array || e.Kind() == reflect.Map {
			e = e.Elem()
		}
		return depth[e] >= 2
	}
	switch t.Kind() {
	case reflect.Struct:
		depth[t]++
		for i := 0; i < t.NumField(); i++ {
			if f := v.Field(i); f.CanSet() || f.Kind() == reflect.Struct {
				spFill(f, depth)
			}
		}
		depth[t]--
		return
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			spFill(v.Index(i), depth)
		}
		return
	}
	if !v.CanSet() {
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.String:
		v.SetString("str")
	case reflect.Interface:
		for _, x := range []any{"x", netip.MustParseAddr("::2")} {
			if xv := reflect.ValueOf(x); xv.Type().AssignableTo(t) {
				v.Set(xv)
				break
			}
		}
	case reflect.Pointer:
		if !deep(t) {
			p := reflect.New(t.Elem())
			spFill(p.Elem(), depth)
			v.Set(p)
		}
	case reflect.Slice:
		if !deep(t) {
			s := reflect.MakeSlice(t, 2, 2)
			spFill(s.Index(0), depth)
			spFill(s.Index(1), depth)
			v.Set(s)
		}
	case reflect.Map:
		if !deep(t) {
			m := reflect.MakeMap(t)
			k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
			spFill(k, depth)
			spFill(e, depth)
			m.SetMapIndex(k, e)
			v.Set(m)
		}
	}
}
