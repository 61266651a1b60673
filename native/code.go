package native

import (
	"fmt"
	"strconv"
)

//go:generate go tool -modfile=../tools/go.mod stringer -type=Code -trimprefix=Code -output=code_string.go

// Code is a call's status code. Its values are numerically equal to gRPC's
// status codes (google.golang.org/grpc/codes), so a gateway maps one to the
// other with a conversion, and String returns the same names as gRPC's
// codes.Code.String ("OK", "NotFound", ...).
type Code uint32

// The status codes, in gRPC's numbering.
const (
	CodeOK                 Code = 0
	CodeCanceled           Code = 1
	CodeUnknown            Code = 2
	CodeInvalidArgument    Code = 3
	CodeDeadlineExceeded   Code = 4
	CodeNotFound           Code = 5
	CodeAlreadyExists      Code = 6
	CodePermissionDenied   Code = 7
	CodeResourceExhausted  Code = 8
	CodeFailedPrecondition Code = 9
	CodeAborted            Code = 10
	CodeOutOfRange         Code = 11
	CodeUnimplemented      Code = 12
	CodeInternal           Code = 13
	CodeUnavailable        Code = 14
	CodeDataLoss           Code = 15
	CodeUnauthenticated    Code = 16
)

// maxCode is the largest code this package knows. Codes above it are passed
// through unchanged, as gRPC does.
const maxCode = CodeUnauthenticated

// ParseCode returns the code whose String is s ("NotFound"), or whose
// decimal value is s ("5").
func ParseCode(s string) (Code, error) {
	for c := CodeOK; c <= maxCode; c++ {
		if c.String() == s {
			return c, nil
		}
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return Code(n), nil
	}
	return CodeUnknown, fmt.Errorf("native: unknown status code %q", s)
}
