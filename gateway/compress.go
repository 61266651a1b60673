package gateway

// Compression of the REST front door's answers (issue 14). A JSON answer
// (a unary result, an error status, /v1/endpoints, /openapi.json) is
// compressed when the request's Accept-Encoding takes gzip or zstd, by
// klauspost/compress's gzhttp: it negotiates the encoding, adds
// Vary: Accept-Encoding, drops Content-Length from what it compresses,
// leaves small answers (under gzhttp.DefaultMinSize), HEAD requests, 304s
// and bodiless answers alone, and flushes through the compressor, so a
// compressed answer still streams. Byte streams are never compressed (see
// plainStream).

import (
	"mime"
	"net/http"

	"github.com/klauspost/compress/gzhttp"
)

// compressible is gzhttp's content-type filter: an answer is compressed
// only if its Content-Type is application/json (with any parameters).
func compressible(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// compressHandler wraps h so that its JSON answers are compressed for
// clients that ask.
func compressHandler(h http.Handler) http.Handler {
	wrap, err := gzhttp.NewWrapper(
		gzhttp.ContentTypeFilter(compressible),
		// gzip when the client takes both as much (curl --compressed and
		// browsers list both): every client decodes it. zstd when the
		// client prefers it or takes only it.
		gzhttp.PreferZstd(false),
	)
	if err != nil {
		panic(err) // only for invalid options
	}
	return wrap(h)
}

// plainStream marks a response stream, before its header is written, to
// be sent as it comes, whatever its Content-Type (application/json
// included): a byte stream is the handler's bytes, often compressed
// already (archives, images, video), and its Content-Length, ETag and
// ranges (download.go) describe them as they are. This is the one place
// that decides that a stream is not compressed; a later change that lets
// a handler mark its stream compressible plugs in here (and in
// compressible, for content types other than JSON).
func (g *Gateway) plainStream(h http.Header) {
	if g.cfg.compress {
		h.Set(gzhttp.HeaderNoCompression, "1") // gzhttp removes it
	}
}

// sendHeader writes a response stream's header (plainStream marked it)
// with code, and sends it at once, before any of the body: the client
// learns that its call began (an EventSource fires its open event) before
// the first message. gzhttp holds a header back until the first byte of
// the body, to choose whether to compress, and a Flush before that sends
// nothing; a Write of nothing makes it choose (not to compress, for a
// plain stream) and pass the header on. It returns the ResponseController
// that flushed.
func sendHeader(w http.ResponseWriter, code int) *http.ResponseController {
	w.WriteHeader(code)
	w.Write(nil)
	rcl := http.NewResponseController(w)
	rcl.Flush()
	return rcl
}
