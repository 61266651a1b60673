package gateway

// This file writes JSON literals byte for byte as encoding/json writes the
// corresponding Go values, so the native side sees what a Go client would
// have sent. The tests compare every function here with encoding/json.

import (
	"encoding/base64"
	"time"

	"github.com/framegate/framegate/internal/jsonstr"
)

// appendString appends s as a JSON string the way encoding/json writes a Go
// string (see jsonstr.Append).
func appendString(dst []byte, s string, escapeHTML bool) []byte {
	return jsonstr.Append(dst, s, escapeHTML)
}

// appendFloat appends f (a float64, or a float32 when bits is 32) as
// encoding/json does (see jsonstr.AppendFloat). The caller rejects NaN and
// infinities.
func appendFloat(dst []byte, f float64, bits int) []byte {
	return jsonstr.AppendFloat(dst, f, bits)
}

// appendBytes appends b as a JSON string holding its standard base64
// encoding with padding, as encoding/json writes a non-nil []byte.
func appendBytes(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// goZeroTimeSeconds is the Unix time of Go's zero time.Time,
// 0001-01-01T00:00:00Z.
const goZeroTimeSeconds = -62135596800

// appendTime appends the instant seconds+nanos as time.Time.MarshalJSON
// writes it in UTC: RFC 3339 with as many fractional digits as needed. It
// reports false when the instant is outside what MarshalJSON accepts (years
// 0 to 9999) or nanos is outside [0, 1e9).
func appendTime(dst []byte, seconds int64, nanos int32) ([]byte, bool) {
	if nanos < 0 || nanos >= 1e9 {
		return dst, false
	}
	// Year 0 starts 62167219200 seconds before 1970, year 10000 253402300800 after.
	if seconds < -62167219200 || seconds >= 253402300800 {
		return dst, false
	}
	dst = append(dst, '"')
	dst = time.Unix(seconds, int64(nanos)).UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"'), true
}
