package native

// The decoding half of the header codec (headerencode.go says what it
// accepts and refuses).

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// decodeHeader decodes a HEADER or TRAILER payload; a payload that is not
// exactly one JSON object of the expected shape is a protocol error naming
// what was wrong.
func decodeHeader(what string, b []byte, v any) error {
	return decodeHeaderNamed(what, b, v, nil)
}

// decodeHeaderNamed is decodeHeader whose request header takes its method
// from names when names knows it (a server's registered names): a call to
// a known endpoint allocates no string for its name.
func decodeHeaderNamed(what string, b []byte, v any, names func([]byte) (string, bool)) error {
	d := headerDecoder{b: b}
	var err error
	switch v := v.(type) {
	case *requestHeader:
		err = d.object(requestHeaderKeys, func(key string) error { return d.requestField(key, v, names) })
	case *responseHeader:
		err = d.object(responseHeaderKeys, func(key string) error { return d.responseField(key, v) })
	case *trailer:
		err = d.object(trailerKeys, func(key string) error { return d.trailerField(key, v) })
	default:
		// No other type: the value then stays on its caller's stack.
		panic("native: decodeHeader of a type it does not know")
	}
	if err != nil {
		return protocolErrorf("invalid %s JSON: %v", what, err)
	}
	return nil
}

var (
	requestHeaderKeys  = []string{"method", "body", "accept", "timeout", "md", "range", "if_range", "head"}
	responseHeaderKeys = []string{"code", "message", "body", "md", "trailer", "stream"}
	streamInfoKeys     = []string{"length", "size", "offset", "type", "etag", "modified"}
	trailerKeys        = []string{"code", "message", "md"}
)

func (d *headerDecoder) requestField(key string, h *requestHeader, names func([]byte) (string, bool)) error {
	var err error
	switch key {
	case "method":
		h.Method, err = d.strKnown(names)
	case "body":
		h.Body, err = d.bodyKind()
	case "accept":
		h.Accept, err = d.bodyKind()
	case "timeout":
		h.Timeout, err = d.int64()
	case "md":
		h.Metadata, err = d.metadata()
	case "range":
		h.Range, err = d.str()
	case "if_range":
		h.IfRange, err = d.str()
	case "head":
		h.Head, err = d.boolean()
	default:
		err = d.skip()
	}
	return err
}

// streamInfo decodes the stream member of a response header.
func (d *headerDecoder) streamInfo() (*streamInfo, error) {
	if d.literal("null") {
		return nil, nil
	}
	si := &streamInfo{}
	err := d.members(streamInfoKeys, func(key string) error {
		var err error
		switch key {
		case "length":
			si.Length, err = d.int64()
		case "size":
			si.Size, err = d.int64()
		case "offset":
			si.Offset, err = d.int64()
		case "type":
			si.Type, err = d.str()
		case "etag":
			si.ETag, err = d.str()
		case "modified":
			si.Modified, err = d.int64()
		default:
			err = d.skip()
		}
		return err
	})
	return si, err
}

// boolean decodes true, false or null (false).
func (d *headerDecoder) boolean() (bool, error) {
	switch {
	case d.literal("true"):
		return true, nil
	case d.literal("false"), d.literal("null"):
		return false, nil
	}
	return false, d.errorf("want true or false, found %s", d.found())
}

func (d *headerDecoder) responseField(key string, h *responseHeader) error {
	var err error
	switch key {
	case "code":
		h.Code, err = d.code()
	case "message":
		h.Message, err = d.str()
	case "body":
		h.Body, err = d.bodyKind()
	case "md":
		h.Metadata, err = d.metadata()
	case "trailer":
		h.Trailer, err = d.metadata()
	case "stream":
		h.Stream, err = d.streamInfo()
	default:
		err = d.skip()
	}
	return err
}

func (d *headerDecoder) trailerField(key string, t *trailer) error {
	var err error
	switch key {
	case "code":
		t.Code, err = d.code()
	case "message":
		t.Message, err = d.str()
	case "md":
		t.Metadata, err = d.metadata()
	default:
		err = d.skip()
	}
	return err
}

// object decodes the whole payload: one object whose values field reads,
// and nothing after it but whitespace. known are the keys of the shape, to
// refuse a repeated key or one that differs from a known key only in case.
func (d *headerDecoder) object(known []string, field func(key string) error) error {
	if err := d.members(known, field); err != nil {
		return err
	}
	if d.ws(); d.i < len(d.b) { // (peek's 0 is also a NUL byte)
		return d.errorf("data after the JSON object")
	}
	return nil
}

// members decodes one object at the current position (see object).
func (d *headerDecoder) members(known []string, field func(key string) error) error {
	switch c := d.peek(); {
	case c == 0:
		return d.errorf("empty, want a JSON object")
	case c != '{':
		return d.errorf("want a JSON object, found %s", d.found())
	}
	d.i++
	var seen uint32
	if d.peek() == '}' {
		d.i++
	} else {
		for {
			if d.peek() != '"' {
				return d.errorf("want an object key")
			}
			key, err := d.key(known)
			if err != nil {
				return err
			}
			if k := slices.Index(known, key); k >= 0 {
				if seen&(1<<k) != 0 {
					return d.errorf("key %q repeated", key)
				}
				seen |= 1 << k
			} else {
				for _, k := range known {
					if strings.EqualFold(k, key) {
						return d.errorf("key %q: keys are case-sensitive, want %q", key, k)
					}
				}
			}
			if d.peek() != ':' {
				return d.errorf("want ':' after key %q", key)
			}
			d.i++
			if err := field(key); err != nil {
				return fmt.Errorf("%q: %w", key, err)
			}
			c := d.peek()
			d.i++
			if c == '}' {
				break
			}
			if c != ',' {
				d.i--
				return d.errorf("want ',' or '}' after the value of %q", key)
			}
		}
	}
	return nil
}

// str decodes a string, or null as "". Strings with escapes or non-ASCII
// bytes are handed to encoding/json, so that they unquote the same way.
func (d *headerDecoder) str() (string, error) { return d.strKnown(nil) }

// strKnown is str, but a string that known knows (given its bytes, when
// they need no unescaping) is known's, not a copy.
func (d *headerDecoder) strKnown(known func([]byte) (string, bool)) (string, error) {
	if d.literal("null") {
		return "", nil
	}
	if d.peek() != '"' {
		return "", d.errorf("want a string, found %s", d.found())
	}
	start := d.i
	raw, plain, err := d.quoted()
	if err != nil {
		return "", err
	}
	if plain {
		if known != nil {
			if s, ok := known(raw); ok {
				return s, nil
			}
		}
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
		return "", d.errorf("invalid string: %v", err)
	}
	return s, nil
}

func (d *headerDecoder) int64() (int64, error) {
	if d.literal("null") {
		return 0, nil
	}
	s, err := d.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, d.errorf("want an integer, got %s", s)
	}
	return n, nil
}

func (d *headerDecoder) code() (Code, error) {
	if d.literal("null") {
		return 0, nil
	}
	s, err := d.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(s), 10, 32)
	if err != nil {
		return 0, d.errorf("want a status code (an unsigned 32-bit integer), got %s", s)
	}
	return Code(n), nil
}

// metadata decodes {"key": ["value", ...], ...} or null.
func (d *headerDecoder) metadata() (Metadata, error) {
	if d.literal("null") {
		return nil, nil
	}
	if d.peek() != '{' {
		return nil, d.errorf("md: want metadata, an object of string arrays, found %s", d.found())
	}
	d.i++
	md := Metadata{}
	if d.peek() == '}' {
		d.i++
		return md, nil
	}
	for {
		if d.peek() != '"' {
			return nil, d.errorf("want a metadata key")
		}
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		if _, dup := md[key]; dup {
			return nil, d.errorf("metadata key %q repeated", key)
		}
		if d.peek() != ':' {
			return nil, d.errorf("want ':' after metadata key %q", key)
		}
		d.i++
		if d.peek() != '[' {
			return nil, d.errorf("md %q: want an array of strings, found %s", key, d.found())
		}
		d.i++
		vals := []string{}
		if d.peek() == ']' {
			d.i++
		} else {
			for {
				if d.peek() != '"' {
					return nil, d.errorf("md %q: want a string, found %s", key, d.found())
				}
				v, err := d.str()
				if err != nil {
					return nil, err
				}
				vals = append(vals, v)
				c := d.peek()
				d.i++
				if c == ']' {
					break
				}
				if c != ',' {
					d.i--
					return nil, d.errorf("metadata %q: want ',' or ']'", key)
				}
			}
		}
		md[key] = vals
		c := d.peek()
		d.i++
		if c == '}' {
			return md, nil
		}
		if c != ',' {
			d.i--
			return nil, d.errorf("metadata: want ',' or '}' after %q", key)
		}
	}
}

// key decodes an object key; one of known is known's string, not a copy.
func (d *headerDecoder) key(known []string) (string, error) {
	start := d.i
	raw, plain, err := d.quoted()
	if err != nil {
		return "", err
	}
	if plain {
		for _, k := range known {
			if string(raw) == k {
				return k, nil
			}
		}
	}
	d.i = start
	return d.str()
}

// bodyKind decodes a body kind; the kinds this version knows are not
// copied. Which kinds a message may carry is checked by its validation.
func (d *headerDecoder) bodyKind() (BodyKind, error) {
	s, err := d.strKnown(knownBodyKind)
	return BodyKind(s), err
}

func knownBodyKind(b []byte) (string, bool) {
	for _, k := range [...]BodyKind{BodyJSON, BodyNone, BodyStream, BodyJSONStream, BodyMessages, BodyJSONMessages} {
		if string(b) == string(k) {
			return string(k), true
		}
	}
	return "", false
}
