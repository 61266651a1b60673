package native_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/framegate/framegate/native"
)

// Sentinels compare by identity: an error with the same code and message,
// as a remote handler can return, is not the local sentinel; the sentinel
// and errors wrapping it are.
func TestSentinelIdentity(t *testing.T) {
	if errors.Is(native.Errorf(native.CodeUnavailable, "connection closed"), native.ErrClosed) {
		t.Error(`errors.Is(Errorf(CodeUnavailable, "connection closed"), ErrClosed) = true; a remote error passes for a local one`)
	}
	if errors.Is(native.Errorf(native.CodeUnavailable, "server closed"), native.ErrServerClosed) {
		t.Error(`errors.Is(Errorf(CodeUnavailable, "server closed"), ErrServerClosed) = true`)
	}
	for _, s := range []error{native.ErrClosed, native.ErrServerClosed, native.ErrTruncated, native.ErrProtocol} {
		if !errors.Is(s, s) {
			t.Errorf("errors.Is(%v, itself) = false", s)
		}
		if w := fmt.Errorf("wrapped: %w", s); !errors.Is(w, s) {
			t.Errorf("errors.Is(%v, %v) = false for a wrapper", w, s)
		}
		if w := native.NewError(native.CodeUnavailable, s); !errors.Is(w, s) {
			t.Errorf("errors.Is(NewError(.., %v), it) = false", s)
		}
	}
}
