package native

import (
	"context"
	"errors"
	"fmt"
)

// Error is an error with a status code. Handlers return it to choose the code
// their caller sees; clients receive it for every failed call. Errors that are
// not *Error travel as CodeUnknown, except context errors, which become
// CodeCanceled and CodeDeadlineExceeded.
type Error struct {
	code Code
	msg  string
	err  error // wrapped cause, local only: never sent
}

// NewError returns an error with code whose message is err's.
func NewError(code Code, err error) *Error {
	if err == nil {
		err = errors.New(code.String())
	}
	return &Error{code: code, msg: err.Error(), err: err}
}

// Errorf returns an error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{code: code, msg: err.Error(), err: errors.Unwrap(err)}
}

// Code returns the status code.
func (e *Error) Code() Code { return e.code }

// Message returns the message without the package prefix and code, as it
// travels on the wire.
func (e *Error) Message() string { return e.msg }

// Error returns "native: <Code>: <message>".
func (e *Error) Error() string {
	if e.msg == "" {
		return "native: " + e.code.String()
	}
	return "native: " + e.code.String() + ": " + e.msg
}

// Unwrap returns the wrapped cause, if any.
func (e *Error) Unwrap() error { return e.err }

// CodeOf returns err's status code: CodeOK for nil, the code of the first
// *Error in err's chain, CodeCanceled or CodeDeadlineExceeded for context
// errors, and CodeUnknown for everything else.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	}
	return CodeUnknown
}

// toError converts any error to an *Error, keeping an existing one.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{code: CodeOf(err), msg: err.Error(), err: err}
}

// messageOf returns the message that travels on the wire for err.
func messageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.msg
	}
	return err.Error()
}

// Errors the package returns; compare with errors.Is. They compare by
// identity: only the sentinel itself, or an error wrapping it, matches. An
// error received from the peer never does, whatever its code and message,
// so a handler on the far side cannot pass for this side's closed
// connection.
var (
	// ErrClosed is returned by calls on a closed Client or Pool.
	ErrClosed = &Error{code: CodeUnavailable, msg: "connection closed"}
	// ErrTruncated is the cause of the error a stream reader returns when the
	// connection ended before the stream's trailer: the stream is incomplete.
	ErrTruncated = errors.New("stream truncated: connection ended before its trailer")
)
