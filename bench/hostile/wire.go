package main

// The native wire format, written byte by byte as native/PROTOCOL.md
// describes it, so the attacks and the hostile backend send exactly what
// they mean to (including what no native.Client would send), whatever the
// package native under test does.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Frame types and flags (PROTOCOL.md, "Frames").
const (
	typeHeader   = 0x1
	typeBody     = 0x2
	typeData     = 0x3
	typeTrailer  = 0x4
	typeRST      = 0x5
	typeClose    = 0x6
	typeCloseAck = 0x7
	typePing     = 0x8
	typeWindow   = 0x9

	flagEnd = 0x1 // BODY: last frame of the JSON body
	flagAck = 0x1 // PING: the reply

	frameHeaderLen = 12
	// maxPayload is the frame payload limit the harness announces, and the
	// largest frame the gateway accepts by default.
	maxPayload = 4 << 20
	// maxCalls, streamWindow and connWindow are the other settings the
	// harness announces: a server's defaults.
	maxCalls     = 256
	streamWindow = 4 << 20
	connWindow   = 16 << 20
	prefaceLen   = 24
)

// preface is the 24-byte connection preface of version 2: magic, version,
// and this side's settings (payload limit, calls, stream and connection
// windows).
func preface() []byte {
	b := binary.BigEndian.AppendUint32([]byte("FGRPC\r\n\x02"), maxPayload)
	b = binary.BigEndian.AppendUint32(b, maxCalls)
	b = binary.BigEndian.AppendUint32(b, streamWindow)
	return binary.BigEndian.AppendUint32(b, connWindow)
}

// frameHeader is a 12-byte frame header claiming length payload bytes.
func frameHeader(typ, flags byte, length, call uint32) []byte {
	b := []byte{typ, flags, 0, 0}
	b = binary.BigEndian.AppendUint32(b, length)
	return binary.BigEndian.AppendUint32(b, call)
}

// frame is a whole frame.
func frame(typ, flags byte, call uint32, payload []byte) []byte {
	return append(frameHeader(typ, flags, uint32(len(payload)), call), payload...)
}

// requestHeader is a HEADER frame opening call 1 of method with a JSON
// request and a JSON response.
func requestHeader(method string) []byte {
	h, _ := json.Marshal(map[string]string{"method": method, "body": "json", "accept": "json"})
	return frame(typeHeader, 0, 1, h)
}

// wireFrame is one frame read from a peer.
type wireFrame struct {
	typ, flags byte
	call       uint32
	payload    []byte
}

// readFrame reads one frame whose payload is at most max bytes.
func readFrame(r io.Reader, max uint32) (wireFrame, error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return wireFrame{}, err
	}
	f := wireFrame{typ: h[0], flags: h[1], call: binary.BigEndian.Uint32(h[8:])}
	n := binary.BigEndian.Uint32(h[4:])
	if n > max {
		return f, fmt.Errorf("%#x frame of %d bytes, over %d", f.typ, n, max)
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(r, f.payload)
	return f, err
}

// readPreface reads a peer's preface and returns the frame payload limit it
// announced.
func readPreface(r io.Reader) (uint32, error) {
	var b [prefaceLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	if string(b[:7]) != "FGRPC\r\n" || b[7] != 2 {
		return 0, errors.New("not a native version 2 preface")
	}
	return binary.BigEndian.Uint32(b[8:]), nil
}
