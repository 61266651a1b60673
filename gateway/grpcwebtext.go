package gateway

// gRPC-Web's text form (application/grpc-web-text), which connect-go does
// not speak: the binary form's bytes in base64, both ways, for clients
// that cannot send or read binary bodies (grpc-web's text mode, older
// browsers). It is served as the binary form: the request body is decoded
// on the way in, the response encoded on the way out.
//
// The spec (PROTOCOL-WEB.md) lets a client send its body as several
// base64 runs, each padded; the reader decodes run by run. The writer ends
// a run, padding it, at each flush, so every message of a stream reaches
// the client when it is sent; clients decode such runs one after the
// other.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
)

// newGRPCWebText returns the writer and request that serve the text call
// r as a binary one; the caller closes the writer when the handler
// returns.
func newGRPCWebText(w http.ResponseWriter, r *http.Request) (*textWriter, *http.Request) {
	r2 := new(http.Request)
	*r2 = *r
	r2.Header = r.Header.Clone()
	r2.Header.Set("Content-Type", strings.Replace(r.Header.Get("Content-Type"), "application/grpc-web-text", "application/grpc-web", 1))
	if r.Body != nil && r.Body != http.NoBody {
		r2.Body = &base64Body{src: r.Body}
	}
	return &textWriter{ResponseWriter: w}, r2
}

// base64Body decodes a request body of base64 runs.
type base64Body struct {
	src  io.ReadCloser
	in   []byte // read, not yet decoded: less than a quantum, or not yet looked at
	out  []byte // decoded, not yet returned
	rbuf [4 << 10]byte
	dbuf [3 << 10]byte
	err  error
}

var errBase64 = errors.New("gateway: the gRPC-Web text body is not base64")

func (b *base64Body) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if len(b.in) >= 4 && b.err != errBase64 {
			if err := b.decode(); err != nil {
				b.err = err
			}
			continue
		}
		if b.err != nil {
			if b.err == io.EOF && len(b.in) > 0 {
				return 0, errBase64 // a quantum cut short
			}
			return 0, b.err
		}
		n := copy(b.rbuf[:], b.in)
		m, err := b.src.Read(b.rbuf[n:])
		b.in = b.rbuf[:n+m]
		b.err = err
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// decode decodes the whole quanta of in, up to the end of a padded run.
func (b *base64Body) decode() error {
	q := len(b.in) / 4 * 4
	if i := bytes.IndexByte(b.in[:q], '='); i >= 0 {
		q = (i/4 + 1) * 4
	}
	if q > len(b.dbuf)/3*4 {
		q = len(b.dbuf) / 3 * 4
	}
	n, err := base64.StdEncoding.Decode(b.dbuf[:], b.in[:q])
	if err != nil {
		return errBase64
	}
	b.out = b.dbuf[:n]
	b.in = b.in[q:]
	return nil
}

func (b *base64Body) Close() error { return b.src.Close() }

// textWriter encodes a response in base64 and names it
// application/grpc-web-text.
type textWriter struct {
	http.ResponseWriter
	enc         io.WriteCloser // the run in progress; nil between runs
	wroteHeader bool
}

// setContentType renames the binary form's content type.
func (w *textWriter) setContentType() {
	h := w.Header()
	if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "application/grpc-web") && !strings.HasPrefix(ct, "application/grpc-web-text") {
		h.Set("Content-Type", strings.Replace(ct, "application/grpc-web", "application/grpc-web-text", 1))
	}
}

func (w *textWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.setContentType()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *textWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.enc == nil {
		w.enc = base64.NewEncoder(base64.StdEncoding, w.ResponseWriter)
	}
	return w.enc.Write(p)
}

// endRun writes the rest of the run in progress, padded.
func (w *textWriter) endRun() error {
	if w.enc == nil {
		return nil
	}
	err := w.enc.Close()
	w.enc = nil
	return err
}

// Flush ends the run in progress and flushes it.
func (w *textWriter) Flush() { _ = w.FlushError() }

func (w *textWriter) FlushError() error {
	if !w.wroteHeader { // a flush writes the header
		w.wroteHeader = true
		w.setContentType()
	}
	if err := w.endRun(); err != nil {
		return err
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// close ends the response: the last run, or the content type of a
// response without a body (a gRPC-Web trailers-only error).
func (w *textWriter) close() {
	if !w.wroteHeader {
		w.setContentType()
	}
	_ = w.endRun()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *textWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
