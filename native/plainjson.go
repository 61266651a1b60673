package native

// A JSON codec for plain Go structs, built once per type by reflection: the
// messages and requests most endpoints take are a handful of strings,
// numbers and string lists, and encoding/json/v2's general machinery was
// 85% of the CPU time of the goroutine that receives a stream of small
// messages (525-570 ns for the bench's ~100-byte EchoMsg). With this codec
// EchoMsg decodes in 314 ns against v2's 625 (3 allocations each) and
// encodes in 126 ns against json.Marshal's 350, and the messages/native
// bench row went from 1.69-1.83x grpc-go's messages per second to
// 2.52-2.58x (medians of four runs of three rounds, alternating builds).
//
// It is a shortcut, never a second meaning: it handles only input it is
// certain to decode exactly as jsonv2.Unmarshal does with strictJSON or
// messageJSON (requestjson.go), or as json.Unmarshal does (a caller's
// response), and declines the rest (escaped member names,
// numbers out of range or with a fraction into an integer, an object in
// an unknown member's value, a member repeated, an unknown member in strict
// mode, anything malformed...). A declined input leaves the value zero
// again and encoding/json decodes it, so results and error texts are
// v2's by construction (plaindecode.go). FuzzPlainJSONDecode checks the
// two agree.
//
// Plain structs are what package plaintype says. Other types have no plain
// codec and always go to encoding/json.

import (
	"reflect"

	"github.com/framegate/framegate/internal/plaintype"
)

// The plain types, as package plaintype describes them.
type (
	plainType  = plaintype.Type
	plainField = plaintype.Field
)

const (
	plainString  = plaintype.String
	plainBool    = plaintype.Bool
	plainInt     = plaintype.Int
	plainUint    = plaintype.Uint
	plainFloat   = plaintype.Float
	plainStrings = plaintype.Strings
	plainSlice   = plaintype.Slice
	plainPointer = plaintype.Pointer
	plainStruct  = plaintype.Struct
)

// plainCodecFor returns the plain type of struct type t, or nil when t is
// not a plain struct.
func plainCodecFor(t reflect.Type) *plainType { return plaintype.For(t) }
