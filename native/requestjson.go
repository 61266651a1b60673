package native

// This file holds the one rule by which a server reads a JSON request body,
// over a connection and in process alike.

import (
	jsonv1 "encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"

	"github.com/framegate/framegate/internal/clip"
)

// strictJSON is encoding/json's (v1) behaviour with four exceptions, so
// that a request means one thing on every face (native, gRPC, REST):
//   - member names match field names exactly, not case-insensitively;
//   - a member no field takes is an error, not ignored;
//   - a member twice in one object is an error, not "the last wins";
//   - text that is not UTF-8, or a lone surrogate escape, is an error,
//     not replaced with U+FFFD.
//
// Responses are still read leniently (a newer server may add fields).
var strictJSON = jsonv2.JoinOptions(
	jsonv1.DefaultOptionsV1(),
	jsonv2.RejectUnknownMembers(true),
	jsonv2.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
	jsonv1.ReportErrorsWithLegacySemantics(false),
)

// messageJSON reads the messages a caller receives (Receiver.Recv): by
// strictJSON's rule, except that a member no field takes is skipped, so that
// a newer server may add fields. One rule for messages both ways, and
// encoding/json's case-insensitive matching is also its costliest part: a
// ~100-byte message decodes in 553 ns against 720 with v1's rules (the
// bench's EchoMsg on this machine; the messages/native row ran 1.84x
// grpc-go's instead of 1.40x). Plain structs take a shortcut by this same
// rule (plainjson.go): 314 ns against v2's 625.
var messageJSON = jsonv2.JoinOptions(strictJSON, jsonv2.RejectUnknownMembers(false))

// decodeRequest reads data, the JSON request of endpoint method, into v, a
// pointer to a zero value, strictly (see strictJSON). Its error is
// INVALID_ARGUMENT and names the member at fault by its JSON pointer,
// quoting at most a few bytes of it.
func decodeRequest(method string, data []byte, v any) error {
	err := unmarshalJSON(data, v, false)
	if err == nil {
		return nil
	}
	return Errorf(CodeInvalidArgument, "invalid request body for %q: %s", method, requestJSONError(err))
}

// requestJSONError says what is wrong with a request body in words that
// name the JSON member at fault by its JSON pointer.
func requestJSONError(err error) string {
	var se *jsonv2.SemanticError
	var ye *jsontext.SyntacticError
	switch {
	case errors.As(err, &se) && errors.Is(err, jsonv2.ErrUnknownName):
		return "unknown field " + memberAt(se.JSONPointer)
	case errors.As(err, &ye) && errors.Is(err, jsontext.ErrDuplicateName):
		return "duplicate field " + memberAt(ye.JSONPointer)
	case errors.As(err, &se):
		what := jsonKind(se.JSONKind)
		if se.GoType != nil {
			what += " cannot be a Go " + se.GoType.String()
		} else {
			what = "invalid " + what
		}
		if se.Err != nil {
			what += ": " + clip.Text(se.Err.Error(), 128)
		}
		if se.JSONPointer == "" {
			return what
		}
		return "at " + clip.Text(string(se.JSONPointer), clip.Max) + ": " + what
	}
	return clip.Text(err.Error(), 256)
}

// memberAt names the last member of a JSON pointer, and where it is when it
// is not at the top: `"b" in /a/0`.
func memberAt(p jsontext.Pointer) string {
	name := p.LastToken()
	s := clip.Quote(name)
	if parent := p.Parent(); parent != "" {
		s += " in " + clip.Text(string(parent), clip.Max)
	}
	return s
}

// jsonKind names a JSON kind for an error message.
func jsonKind(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "something else"
}
