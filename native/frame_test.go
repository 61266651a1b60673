package native

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// goldenFrames pins the wire format: each entry's bytes are produced by the
// package's encoders and compared with hex written out by hand from
// PROTOCOL.md.
var goldenFrames = []struct {
	name  string
	bytes func() []byte
	hex   string
}{
	{"preface", func() []byte { return appendPreface(nil, ProtocolVersion, defaultSettings(DefaultMaxFramePayload)) },
		"4647525043 0d0a 02 00400000 00000100 00400000 01000000"},
	{"WINDOW_UPDATE connection", func() []byte {
		return appendFrame(nil, FrameHeader{Type: TypeWindow}, []byte{0, 0x20, 0, 0})
	}, "09 00 0000 00000004 00000000 00200000"},
	{"WINDOW_UPDATE call", func() []byte {
		return appendFrame(nil, FrameHeader{Type: TypeWindow, Call: 3}, []byte{0, 0x20, 0, 0})
	}, "09 00 0000 00000004 00000003 00200000"},
	{"HEADER request", func() []byte {
		b, _ := json.Marshal(&requestHeader{Method: "S.M", Body: BodyJSON, Accept: BodyStream})
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, b)
	}, "01 00 0000 00000030 00000001" + hex.EncodeToString([]byte(`{"method":"S.M","body":"json","accept":"stream"}`))},
	{"HEADER response", func() []byte {
		b, _ := json.Marshal(&responseHeader{Code: CodeNotFound, Message: "x", Body: BodyNone})
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 7}, b)
	}, "01 00 0000 00000026 00000007" + hex.EncodeToString([]byte(`{"code":5,"message":"x","body":"none"}`))},
	{"HEADER request for a range", func() []byte {
		b, _ := json.Marshal(&requestHeader{Method: "F.Get", Body: BodyJSON, Accept: BodyStream, Range: "bytes=10-109", IfRange: `"e1"`, Head: true})
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, b)
	}, "01 00 0000 00000069 00000001" + hex.EncodeToString([]byte(`{"method":"F.Get","body":"json","accept":"stream","range":"bytes=10-109","if_range":"\"e1\"","head":true}`))},
	{"HEADER response announcing its stream", func() []byte {
		b, _ := json.Marshal(&responseHeader{Body: BodyStream, Stream: &streamInfo{Length: 100, Size: 1000, Offset: 10, Type: "text/plain", ETag: `"e1"`, Modified: 1700000000000000000}})
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, b)
	}, "01 00 0000 0000008d 00000001" + hex.EncodeToString([]byte(`{"code":0,"body":"stream","stream":{"length":100,"size":1000,"offset":10,"type":"text/plain","etag":"\"e1\"","modified":1700000000000000000}}`))},
	{"BODY", func() []byte { return appendFrame(nil, FrameHeader{Type: TypeBody, Call: 2}, []byte(`{"a":`)) },
		"02 00 0000 00000005 00000002 7b2261223a"},
	{"BODY END", func() []byte {
		return appendFrame(nil, FrameHeader{Type: TypeBody, Flags: FlagEnd, Call: 2}, []byte(`1}`))
	},
		"02 01 0000 00000002 00000002 317d"},
	{"DATA", func() []byte {
		return appendFrame(nil, FrameHeader{Type: TypeData, Call: 0x01020304}, []byte{0xde, 0xad})
	},
		"03 00 0000 00000002 01020304 dead"},
	{"DATA empty", func() []byte { return appendFrame(nil, FrameHeader{Type: TypeData, Call: 9}, nil) },
		"03 00 0000 00000000 00000009"},
	{"HEADER request of a bidi stream of messages", func() []byte {
		b, _ := json.Marshal(&requestHeader{Method: "T.Echo", Body: BodyMessages, Accept: BodyMessages})
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, b)
	}, "01 00 0000 00000039 00000001" + hex.EncodeToString([]byte(`{"method":"T.Echo","body":"messages","accept":"messages"}`))},
	{"HEADER request of a JSON value and messages", func() []byte {
		b, _ := json.Marshal(&requestHeader{Method: "L.Add", Body: BodyJSONMessages, Accept: BodyJSON})
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, b)
	}, "01 00 0000 00000039 00000001" + hex.EncodeToString([]byte(`{"method":"L.Add","body":"json+messages","accept":"json"}`))},
	{"HEADER response of messages", func() []byte {
		b, _ := json.Marshal(&responseHeader{Body: BodyMessages})
		return appendFrame(nil, FrameHeader{Type: TypeHeader, Call: 1}, b)
	}, "01 00 0000 0000001c 00000001" + hex.EncodeToString([]byte(`{"code":0,"body":"messages"}`))},
	{"DATA of one message", func() []byte {
		return appendFrame(nil, FrameHeader{Type: TypeData, Call: 1}, appendMsg(nil, []byte(`{"seq":1}`)))
	}, "03 00 0000 0000000d 00000001 00000009" + hex.EncodeToString([]byte(`{"seq":1}`))},
	{"DATA of two messages", func() []byte {
		return appendFrame(nil, FrameHeader{Type: TypeData, Call: 1}, appendMsg(appendMsg(nil, []byte(`{}`)), []byte(`"x"`)))
	}, "03 00 0000 0000000d 00000001 00000002 7b7d 00000003 227822"},
	{"TRAILER ok", func() []byte {
		b, _ := json.Marshal(&trailer{})
		return appendFrame(nil, FrameHeader{Type: TypeTrailer, Call: 3}, b)
	}, "04 00 0000 0000000a 00000003" + hex.EncodeToString([]byte(`{"code":0}`))},
	{"TRAILER error", func() []byte {
		b, _ := json.Marshal(&trailer{Code: CodeDataLoss, Message: "eio", Metadata: Metadata{"k": {"v"}}})
		return appendFrame(nil, FrameHeader{Type: TypeTrailer, Call: 3}, b)
	}, "04 00 0000 0000002c 00000003" + hex.EncodeToString([]byte(`{"code":15,"message":"eio","md":{"k":["v"]}}`))},
	{"RST call", func() []byte {
		return appendFrame(nil, FrameHeader{Type: TypeRST, Call: 4}, rstPayload(CodeCanceled, "bye"))
	},
		"05 00 0000 00000007 00000004 00000001 627965"},
	{"RST connection", func() []byte { return appendFrame(nil, FrameHeader{Type: TypeRST}, rstPayload(CodeInternal, "")) },
		"05 00 0000 00000004 00000000 0000000d"},
	{"CLOSE", func() []byte { return appendFrame(nil, FrameHeader{Type: TypeClose}, []byte{0, 0, 0, 42}) },
		"06 00 0000 00000004 00000000 0000002a"},
	{"CLOSE_ACK", func() []byte { return appendFrame(nil, FrameHeader{Type: TypeCloseAck}, nil) },
		"07 00 0000 00000000 00000000"},
	{"PING", func() []byte { return appendFrame(nil, FrameHeader{Type: TypePing}, []byte("12345678")) },
		"08 00 0000 00000008 00000000 3132333435363738"},
	{"PING ACK", func() []byte {
		return appendFrame(nil, FrameHeader{Type: TypePing, Flags: FlagAck}, []byte("12345678"))
	},
		"08 01 0000 00000008 00000000 3132333435363738"},
}

func TestGoldenFrames(t *testing.T) {
	lim := limits{maxFramePayload: DefaultMaxFramePayload, maxHeaderSize: DefaultMaxHeaderSize}
	for _, g := range goldenFrames {
		t.Run(g.name, func(t *testing.T) {
			want, err := hex.DecodeString(strings.ReplaceAll(g.hex, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			got := g.bytes()
			if !bytes.Equal(got, want) {
				t.Fatalf("wire bytes changed:\n got %x\nwant %x", got, want)
			}
			if g.name == "preface" {
				if st, err := parsePreface(got); err != nil || st != defaultSettings(DefaultMaxFramePayload) {
					t.Fatalf("parsePreface = %+v, %v", st, err)
				}
				return
			}
			h, err := parseFrameHeader(got, &lim)
			if err != nil {
				t.Fatalf("golden frame does not parse: %v", err)
			}
			if int(h.Length) != len(got)-FrameHeaderLen {
				t.Fatalf("length %d, payload is %d bytes", h.Length, len(got)-FrameHeaderLen)
			}
			var again [FrameHeaderLen]byte
			putFrameHeader(again[:], h)
			if !bytes.Equal(again[:], got[:FrameHeaderLen]) {
				t.Fatalf("header does not round-trip: %x vs %x", again, got[:FrameHeaderLen])
			}
		})
	}
}

// TestWireConstants pins the numbers PROTOCOL.md names.
func TestWireConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"HEADER", int(TypeHeader), 1}, {"BODY", int(TypeBody), 2}, {"DATA", int(TypeData), 3},
		{"TRAILER", int(TypeTrailer), 4}, {"RST", int(TypeRST), 5}, {"CLOSE", int(TypeClose), 6},
		{"CLOSE_ACK", int(TypeCloseAck), 7}, {"PING", int(TypePing), 8}, {"WINDOW_UPDATE", int(TypeWindow), 9},
		{"END", int(FlagEnd), 1}, {"ACK", int(FlagAck), 1},
		{"FrameHeaderLen", FrameHeaderLen, 12}, {"PrefaceLen", PrefaceLen, 24},
		{"ProtocolVersion", ProtocolVersion, 2},
		{"DefaultMaxConcurrentCalls", DefaultMaxConcurrentCalls, 256},
		{"DefaultStreamWindow", DefaultStreamWindow, 4 << 20}, {"DefaultConnWindow", DefaultConnWindow, 16 << 20},
		{"MaxWindow", MaxWindow, 1<<31 - 1},
		{"DefaultMaxFramePayload", DefaultMaxFramePayload, 4 << 20},
		{"DefaultMaxHeaderSize", DefaultMaxHeaderSize, 64 << 10},
		{"MinMaxFramePayload", MinMaxFramePayload, 16 << 10},
		{"maxRSTMessage", maxRSTMessage, 4 << 10},
		{"CodeOK", int(CodeOK), 0}, {"CodeCanceled", int(CodeCanceled), 1}, {"CodeUnknown", int(CodeUnknown), 2},
		{"CodeInvalidArgument", int(CodeInvalidArgument), 3}, {"CodeDeadlineExceeded", int(CodeDeadlineExceeded), 4},
		{"CodeNotFound", int(CodeNotFound), 5}, {"CodeAlreadyExists", int(CodeAlreadyExists), 6},
		{"CodePermissionDenied", int(CodePermissionDenied), 7}, {"CodeResourceExhausted", int(CodeResourceExhausted), 8},
		{"CodeFailedPrecondition", int(CodeFailedPrecondition), 9}, {"CodeAborted", int(CodeAborted), 10},
		{"CodeOutOfRange", int(CodeOutOfRange), 11}, {"CodeUnimplemented", int(CodeUnimplemented), 12},
		{"CodeInternal", int(CodeInternal), 13}, {"CodeUnavailable", int(CodeUnavailable), 14},
		{"CodeDataLoss", int(CodeDataLoss), 15}, {"CodeUnauthenticated", int(CodeUnauthenticated), 16},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, PROTOCOL.md says %d", c.name, c.got, c.want)
		}
	}
	if got := prefaceMagic; got != "FGRPC\r\n" {
		t.Errorf("preface magic %q", got)
	}
}

func TestNames(t *testing.T) {
	for ft, want := range map[FrameType]string{
		TypeHeader: "HEADER", TypeBody: "BODY", TypeData: "DATA", TypeTrailer: "TRAILER", TypeRST: "RST",
		TypeClose: "CLOSE", TypeCloseAck: "CLOSE_ACK", TypePing: "PING", 0: "FrameType(0)", TypeWindow: "WINDOW_UPDATE", 10: "FrameType(10)",
	} {
		if got := ft.String(); got != want {
			t.Errorf("FrameType(%d).String() = %q, want %q", uint8(ft), got, want)
		}
	}
	for c, want := range map[Code]string{CodeOK: "OK", CodeNotFound: "NotFound", CodeUnauthenticated: "Unauthenticated", 17: "Code(17)"} {
		if got := c.String(); got != want {
			t.Errorf("Code(%d).String() = %q, want %q", uint32(c), got, want)
		}
		if c <= maxCode {
			if back, err := ParseCode(want); err != nil || back != c {
				t.Errorf("ParseCode(%q) = %v, %v", want, back, err)
			}
		}
	}
	if _, err := ParseCode("Nope"); err == nil {
		t.Error("ParseCode accepted an unknown name")
	}
	h := FrameHeader{Type: TypeData, Flags: 0, Length: 5, Call: 3}
	if got := h.String(); got != "DATA call=3 len=5 flags=0x0" {
		t.Errorf("FrameHeader.String() = %q", got)
	}
}

// TestParseFrameHeaderErrors checks each header the receiver must refuse,
// and that the error names what was wrong.
func TestParseFrameHeaderErrors(t *testing.T) {
	lim := limits{maxFramePayload: 1 << 20, maxHeaderSize: 1 << 10}
	for _, c := range []struct {
		name string
		h    string
		want string
	}{
		{"unknown type", "0a 00 0000 00000000 00000001", "unknown frame type 0xa"},
		{"type zero", "00 00 0000 00000000 00000001", "unknown frame type 0x0"},
		{"reserved", "03 00 0100 00000000 00000001", "non-zero reserved bytes"},
		{"unknown flag", "03 02 0000 00000000 00000001", "DATA frame has unknown flags 0x2"},
		{"END on DATA", "03 01 0000 00000000 00000001", "DATA frame has unknown flags 0x1"},
		{"over frame limit", "03 00 0000 00100001 00000001", "DATA frame payload of 1048577 bytes exceeds the limit of 1048576"},
		{"over header limit", "01 00 0000 00000401 00000001", "HEADER of 1025 bytes exceeds the limit of 1024"},
		{"trailer over header limit", "04 00 0000 00000401 00000001", "TRAILER of 1025 bytes exceeds the limit of 1024"},
		{"short RST", "05 00 0000 00000003 00000001", "RST payload of 3 bytes"},
		{"long RST", "05 00 0000 00001005 00000001", "RST payload of 4101 bytes"},
		{"CLOSE size", "06 00 0000 00000000 00000000", "CLOSE payload of 0 bytes, want 4"},
		{"CLOSE_ACK size", "07 00 0000 00000001 00000000", "CLOSE_ACK payload of 1 bytes, want 0"},
		{"PING size", "08 00 0000 00000004 00000000", "PING payload of 4 bytes, want 8"},
		{"PING with call", "08 00 0000 00000008 00000001", "PING frame carries call id 1, want 0"},
		{"WINDOW_UPDATE size", "09 00 0000 00000008 00000001", "WINDOW_UPDATE payload of 8 bytes, want 4"},
		{"WINDOW_UPDATE flags", "09 01 0000 00000004 00000001", "WINDOW_UPDATE frame has unknown flags 0x1"},
		{"DATA without call", "03 00 0000 00000000 00000000", "DATA frame carries call id 0"},
		{"HEADER without call", "01 00 0000 00000000 00000000", "HEADER frame carries call id 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, _ := hex.DecodeString(strings.ReplaceAll(c.h, " ", ""))
			_, err := parseFrameHeader(b, &lim)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrProtocol) || CodeOf(err) != CodeInternal {
				t.Errorf("error %v is not a protocol error with code Internal", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// settingsTail is a valid end of a preface: 256 calls, windows of 4 and 16 MiB.
const settingsTail = "\x00\x00\x01\x00\x00\x40\x00\x00\x01\x00\x00\x00"

func TestParsePrefaceErrors(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
		code           Code
	}{
		{"http", "GET / HTTP/1", `bad connection preface "GET / HTTP/1"`, CodeInternal},
		{"version", "FGRPC\r\n\x01\x00\x40\x00\x00" + settingsTail, "peer speaks version 1, this side speaks version 2", CodeUnimplemented},
		{"tiny limit", "FGRPC\r\n\x02\x00\x00\x00\x10" + settingsTail, "frame payload limit of 16 bytes", CodeInternal},
		{"huge limit", "FGRPC\r\n\x02\x7f\x00\x00\x00" + settingsTail, "frame payload limit of 2130706432 bytes", CodeInternal},
		{"no calls", "FGRPC\r\n\x02\x00\x40\x00\x00" + "\x00\x00\x00\x00\x00\x40\x00\x00\x01\x00\x00\x00", "limit of 0 concurrent calls", CodeInternal},
		{"tiny window", "FGRPC\r\n\x02\x00\x40\x00\x00" + "\x00\x00\x01\x00\x00\x00\x00\x10\x01\x00\x00\x00", "stream window of 16 bytes", CodeInternal},
		{"conn window below stream's", "FGRPC\r\n\x02\x00\x40\x00\x00" + "\x00\x00\x01\x00\x00\x40\x00\x00\x00\x10\x00\x00", "connection window of 1048576 bytes", CodeInternal},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parsePreface([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) || CodeOf(err) != c.code {
				t.Fatalf("parsePreface(%q) = %v, want %q with code %v", c.in, err, c.want, c.code)
			}
		})
	}
}

func TestAppendChunked(t *testing.T) {
	f := &framer{peerMax: 4}
	got := f.appendChunked(nil, TypeBody, 1, []byte("abcdefghij"), FlagEnd)
	want := "02 00 0000 00000004 00000001 61626364" +
		"02 00 0000 00000004 00000001 65666768" +
		"02 01 0000 00000002 00000001 696a"
	if w, _ := hex.DecodeString(strings.ReplaceAll(want, " ", "")); !bytes.Equal(got, w) {
		t.Fatalf("got %x\nwant %x", got, w)
	}
	got = f.appendChunked(nil, TypeBody, 1, nil, FlagEnd)
	if w, _ := hex.DecodeString("020100000000000000000001"); !bytes.Equal(got, w) {
		t.Fatalf("empty body: got %x", got)
	}
}
