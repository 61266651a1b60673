package gateway

import (
	"encoding/json"
	"math"
	"math/rand"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var inputs []string
	for b := 0; b < 256; b++ {
		inputs = append(inputs, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	inputs = append(inputs, "", "héllo", "\u2028\u2029", "日本語", "\U0001F600", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xc3", "<script>&amp;</script>", "\uFFFD\uFEFF")
	g := &gen{r: rand.New(rand.NewSource(7))}
	for i := 0; i < 2000; i++ {
		b := make([]byte, g.pick(12))
		g.r.Read(b)
		inputs = append(inputs, string(b), g.string())
	}
	for _, s := range inputs {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s, true); !sameJSONString(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
		// The quoted form of a `,string` string field.
		type q struct {
			S string `json:"s,string"`
		}
		wantQ, _ := json.Marshal(q{s})
		gotQ := `{"s":` + string(appendString(nil, string(appendString(nil, s, true)), false)) + `}`
		if !utf8.ValidString(s) {
			continue // the ",string" form differs between releases too; checked above
		}
		if gotQ != string(wantQ) {
			t.Fatalf("quoted %q = %s, want %s", s, gotQ, wantQ)
		}
	}
}

// sameJSONString reports whether two JSON strings are the same text, or,
// for invalid UTF-8 (which encoding/json writes as an escaped replacement
// character in Go 1.26 and as a raw one in 1.27), decode to the same string.
func sameJSONString(got, want []byte) bool {
	if string(got) == string(want) {
		return true
	}
	var g, w string
	return json.Unmarshal(got, &g) == nil && json.Unmarshal(want, &w) == nil && g == w && strings.ContainsRune(g, utf8.RuneError)
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	f64 := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e20, 1e21, 1e-6, 9.999999e-7, 1e-7, 123456789012345678, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 1 << 53, 1<<53 + 2, 5e-324, 1.7976931348623157e308, 100, 1e100}
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 5000; i++ {
		if f := math.Float64frombits(r.Uint64()); !math.IsNaN(f) && !math.IsInf(f, 0) {
			f64 = append(f64, f)
		}
		f64 = append(f64, r.NormFloat64()*math.Pow(10, float64(r.Intn(60)-30)))
	}
	for _, f := range f64 {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f, 64); string(got) != string(want) {
			t.Fatalf("appendFloat(%v, 64) = %s, want %s", f, got, want)
		}
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) {
			continue
		}
		want, _ = json.Marshal(f32)
		if got := appendFloat(nil, float64(f32), 32); string(got) != string(want) {
			t.Fatalf("appendFloat(%v, 32) = %s, want %s", f32, got, want)
		}
	}
}

func TestAppendTimeMatchesMarshalJSON(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	cases := [][2]int64{{0, 0}, {-1, 999999999}, {goZeroTimeSeconds, 0}, {goZeroTimeSeconds, 1}, {253402300799, 999999999}, {-62167219200, 0}, {1, 500000000}, {1, 10}}
	for i := 0; i < 2000; i++ {
		cases = append(cases, [2]int64{-62167219200 + r.Int63n(253402300800+62167219200), r.Int63n(1e9)})
	}
	for _, c := range cases {
		want, err := time.Unix(c[0], c[1]).UTC().MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendTime(nil, c[0], int32(c[1]))
		if !ok || string(got) != string(want) {
			t.Fatalf("appendTime(%d, %d) = %s %v, want %s", c[0], c[1], got, ok, want)
		}
	}
	for _, c := range [][2]int64{{-62167219201, 0}, {253402300800, 0}, {0, -1}, {0, 1e9}} {
		if _, ok := appendTime(nil, c[0], int32(c[1])); ok {
			t.Errorf("appendTime(%d, %d) accepted", c[0], c[1])
		}
		if _, err := time.Unix(c[0], 0).UTC().MarshalJSON(); c[1] == 0 && err == nil {
			t.Errorf("MarshalJSON accepts %d", c[0])
		}
	}
}
