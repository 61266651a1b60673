package gateway

// A seeded generator of random proto messages driven by the codec tables.
// It produces only messages in the transcoder's normal form, the ones that
// survive proto -> native JSON -> proto unchanged: non-optional messages are
// unset rather than empty, non-optional timestamps are never the Go zero
// time, anys are never null outside lists, and floats are finite.

import (
	"math"
	"math/rand"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/framegate/framegate/native"
)

type gen struct {
	r        *rand.Rand
	maxDepth int
}

func (g *gen) message(m protoreflect.Message, c *messageCodec, depth int) {
	for i := range c.fields {
		f := &c.fields[i]
		if g.r.Intn(4) == 0 {
			continue
		}
		g.field(m, f.fd, f.typ, f.optional, f.jsonName, depth)
	}
}

func (g *gen) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, c *valueCodec, optional bool, name string, depth int) {
	switch c.kind {
	case native.KindList:
		if depth > g.maxDepth {
			return
		}
		l := m.Mutable(fd).List()
		for n := g.r.Intn(4); n > 0; n-- {
			l.Append(g.elem(l.NewElement, c.elem, depth+1))
		}
	case native.KindMap:
		if depth > g.maxDepth {
			return
		}
		mp := m.Mutable(fd).Map()
		for n := g.r.Intn(4); n > 0; n-- {
			mp.Set(g.scalar(c.key, "").MapKey(), g.elem(mp.NewValue, c.elem, depth+1))
		}
	case native.KindMessage:
		if depth > g.maxDepth {
			return
		}
		sub := m.Mutable(fd).Message()
		g.message(sub, c.msg, depth+1)
		if !optional && isEmpty(sub) {
			m.Clear(fd)
		}
	case native.KindTimestamp:
		sec, nanos := g.time()
		if !optional && sec == goZeroTimeSeconds && nanos == 0 {
			return
		}
		setTime(m.Mutable(fd).Message(), sec, nanos)
	case native.KindAny:
		g.anyValue(m.Mutable(fd).Message(), depth, false)
	default:
		m.Set(fd, g.scalar(c.kind, name))
	}
}

func (g *gen) elem(newValue func() protoreflect.Value, c *valueCodec, depth int) protoreflect.Value {
	switch c.kind {
	case native.KindMessage:
		v := newValue()
		if depth <= g.maxDepth {
			g.message(v.Message(), c.msg, depth)
		}
		return v
	case native.KindTimestamp:
		v := newValue()
		sec, nanos := g.time()
		setTime(v.Message(), sec, nanos)
		return v
	case native.KindAny:
		v := newValue()
		g.anyValue(v.Message(), depth, true)
		return v
	case native.KindList, native.KindMap:
		v := newValue()
		g.field(v.Message(), c.wrapper, c, false, "", depth)
		return v
	}
	return g.scalar(c.kind, "")
}

func (g *gen) pick(n int) int { return g.r.Intn(n) }

// scalar returns a value of kind k; name selects the narrower Go types of
// the test struct (int8, uint16).
func (g *gen) scalar(k native.Kind, name string) protoreflect.Value {
	switch k {
	case native.KindBool:
		return protoreflect.ValueOfBool(g.pick(2) == 0)
	case native.KindInt32:
		if name == "small" {
			return protoreflect.ValueOfInt32(int32(g.pick(256) - 128))
		}
		return protoreflect.ValueOfInt32([]int32{0, 1, -1, math.MinInt32, math.MaxInt32, g.r.Int31(), -g.r.Int31()}[g.pick(7)])
	case native.KindUint32:
		if name == "tiny" {
			return protoreflect.ValueOfUint32(uint32(g.pick(65536)))
		}
		return protoreflect.ValueOfUint32([]uint32{0, 1, math.MaxUint32, g.r.Uint32()}[g.pick(4)])
	case native.KindInt64:
		return protoreflect.ValueOfInt64([]int64{0, -1, 1<<53 + 1, 1<<62 + 1, -(1<<62 + 1), math.MinInt64, math.MaxInt64, g.r.Int63(), -g.r.Int63()}[g.pick(9)])
	case native.KindUint64:
		return protoreflect.ValueOfUint64([]uint64{0, 1 << 63, 1<<53 + 1, math.MaxUint64, g.r.Uint64()}[g.pick(5)])
	case native.KindFloat32:
		for {
			f := []float32{0, float32(math.Copysign(0, -1)), 1.5, -0.1, math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-7, 1e21, 123456.79,
				math.Float32frombits(g.r.Uint32())}[g.pick(10)]
			if !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
				return protoreflect.ValueOfFloat32(f)
			}
		}
	case native.KindFloat64:
		return protoreflect.ValueOfFloat64(g.float64())
	case native.KindString:
		return protoreflect.ValueOfString(g.string())
	case native.KindBytes:
		b := make([]byte, g.pick(12))
		g.r.Read(b)
		return protoreflect.ValueOfBytes(b)
	}
	panic("not a scalar: " + k)
}

func (g *gen) float64() float64 {
	for {
		f := []float64{0, -1, 0.1, 1e21, 1e20, 1e-6, 9.99e-7, math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, g.r.NormFloat64() * 1e6,
			math.Float64frombits(g.r.Uint64())}[g.pick(12)]
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

// genRunes are the interesting characters for JSON escaping.
var genRunes = []rune("aZ09 _-.<>&\"\\/\b\f\n\r\t\x01\x1f\x7féß日本\u2028\u2029\U0001F600\uFFFD\uFEFF")

func (g *gen) string() string {
	var b strings.Builder
	for n := g.pick(10); n > 0; n-- {
		if g.pick(8) == 0 {
			b.WriteRune(rune(g.pick(utf8.MaxRune)))
			continue
		}
		b.WriteRune(genRunes[g.pick(len(genRunes))])
	}
	return strings.ToValidUTF8(b.String(), "?")
}

// time returns a random instant within what time.Time.MarshalJSON writes
// and proto's Timestamp allows (years 1 to 9999), now and then Go's zero.
func (g *gen) time() (int64, int32) {
	switch g.pick(6) {
	case 0:
		return goZeroTimeSeconds, 0
	case 1:
		return -1, 999999999
	}
	const lo, hi = goZeroTimeSeconds, 253402300799
	return lo + g.r.Int63n(hi-lo+1), int32(g.pick(1e9))
}

// anyValue fills a google.protobuf.Value; null only when allowed.
func (g *gen) anyValue(m protoreflect.Message, depth int, null bool) {
	fields := m.Descriptor().Fields()
	k := g.pick(6)
	if depth > g.maxDepth {
		k = 1 + g.pick(3)
	}
	switch k {
	case 0:
		if null {
			m.Set(fields.ByNumber(valueNull), protoreflect.ValueOfEnum(0))
			return
		}
		m.Set(fields.ByNumber(valueBool), protoreflect.ValueOfBool(false))
	case 1:
		m.Set(fields.ByNumber(valueNumber), protoreflect.ValueOfFloat64(g.float64()))
	case 2:
		m.Set(fields.ByNumber(valueString), protoreflect.ValueOfString(g.string()))
	case 3:
		m.Set(fields.ByNumber(valueBool), protoreflect.ValueOfBool(g.pick(2) == 0))
	case 4:
		lv := m.Mutable(fields.ByNumber(valueList)).Message()
		l := lv.Mutable(lv.Descriptor().Fields().ByNumber(listValues)).List()
		for n := g.pick(4); n > 0; n-- {
			e := l.NewElement()
			g.anyValue(e.Message(), depth+1, true)
			l.Append(e)
		}
	case 5:
		sv := m.Mutable(fields.ByNumber(valueStruct)).Message()
		mp := sv.Mutable(sv.Descriptor().Fields().ByNumber(structFields)).Map()
		for n := g.pick(4); n > 0; n-- {
			v := mp.NewValue()
			g.anyValue(v.Message(), depth+1, true)
			mp.Set(protoreflect.ValueOfString(g.string()).MapKey(), v)
		}
	}
}
