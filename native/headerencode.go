package native

// A hand-written JSON codec for the three header shapes (request header,
// response header, trailer). Every call encodes and decodes two of them, and
// encoding/json's reflection made up most of a small call's CPU time beside
// the syscalls.
//
// The encoder writes exactly the bytes encoding/json writes for the same
// value (map keys sorted, HTML-safe escaping), so the wire format is
// unchanged; TestHeaderCodecMatchesEncodingJSON and FuzzHeaderCodec pin it.
// The decoder accepts a subset of what encoding/json accepts and, where it
// accepts, produces the same value (FuzzHeaderCodec checks both). It is
// stricter in four ways, each answered with a protocol error: the payload
// must be one JSON object (not null); keys match exactly (encoding/json also
// matches them case-insensitively); a key may not repeat; metadata values
// may not be null.

import (
	"slices"
	"strconv"

	"github.com/framegate/framegate/internal/jsonstr"
)

func appendRequestHeader(b []byte, h *requestHeader) []byte {
	b = append(b, `{"method":`...)
	b = appendJSONString(b, h.Method)
	b = append(b, `,"body":`...)
	b = appendJSONString(b, string(h.Body))
	b = append(b, `,"accept":`...)
	b = appendJSONString(b, string(h.Accept))
	if h.Timeout != 0 {
		b = append(b, `,"timeout":`...)
		b = strconv.AppendInt(b, h.Timeout, 10)
	}
	if len(h.Metadata) > 0 {
		b = append(b, `,"md":`...)
		b = appendMetadata(b, h.Metadata)
	}
	if h.Range != "" {
		b = append(b, `,"range":`...)
		b = appendJSONString(b, h.Range)
	}
	if h.IfRange != "" {
		b = append(b, `,"if_range":`...)
		b = appendJSONString(b, h.IfRange)
	}
	if h.Head {
		b = append(b, `,"head":true`...)
	}
	return append(b, '}')
}

func appendResponseHeader(b []byte, h *responseHeader) []byte {
	b = append(b, `{"code":`...)
	b = strconv.AppendUint(b, uint64(h.Code), 10)
	if h.Message != "" {
		b = append(b, `,"message":`...)
		b = appendJSONString(b, h.Message)
	}
	b = append(b, `,"body":`...)
	b = appendJSONString(b, string(h.Body))
	if len(h.Metadata) > 0 {
		b = append(b, `,"md":`...)
		b = appendMetadata(b, h.Metadata)
	}
	if len(h.Trailer) > 0 {
		b = append(b, `,"trailer":`...)
		b = appendMetadata(b, h.Trailer)
	}
	if si := h.Stream; si != nil {
		b = append(b, `,"stream":{"length":`...)
		b = strconv.AppendInt(b, si.Length, 10)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, si.Size, 10)
		if si.Offset != 0 {
			b = append(b, `,"offset":`...)
			b = strconv.AppendInt(b, si.Offset, 10)
		}
		if si.Type != "" {
			b = append(b, `,"type":`...)
			b = appendJSONString(b, si.Type)
		}
		if si.ETag != "" {
			b = append(b, `,"etag":`...)
			b = appendJSONString(b, si.ETag)
		}
		if si.Modified != 0 {
			b = append(b, `,"modified":`...)
			b = strconv.AppendInt(b, si.Modified, 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendTrailer(b []byte, t *trailer) []byte {
	b = append(b, `{"code":`...)
	b = strconv.AppendUint(b, uint64(t.Code), 10)
	if t.Message != "" {
		b = append(b, `,"message":`...)
		b = appendJSONString(b, t.Message)
	}
	if len(t.Metadata) > 0 {
		b = append(b, `,"md":`...)
		b = appendMetadata(b, t.Metadata)
	}
	return append(b, '}')
}

// appendMetadata appends md as encoding/json does: keys sorted, a nil
// value list as null.
func appendMetadata(b []byte, md Metadata) []byte {
	var keysBuf [16]string
	keys := keysBuf[:0]
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		vs := md[k]
		if vs == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '[')
		for j, v := range vs {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s quoted as encoding/json quotes it, with its
// default HTML escaping.
func appendJSONString(b []byte, s string) []byte { return jsonstr.Append(b, s, true) }
