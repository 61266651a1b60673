package gateway

// This file prints a proto3 file descriptor as .proto source, for users who
// want the served API as a file (gw schema -format proto) to read, to
// generate clients from, or to check with buf. It covers what the gateway
// generates and a little more: messages (nested too), fields with their
// labels, maps, proto3 optional, real oneofs, enums, json_name when it is
// not the default, services with streaming methods, imports, and leading
// comments. It does not print options other than json_name and a method's
// idempotency_level, extensions or proto2 features; it refuses a file that is not proto3. Type names are
// written fully qualified (".native.Entry"), so no scope rule can change
// what they mean. TestProtoPrintCompilesBack compiles the output with the
// pinned buf and compares the descriptors.

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// WriteProto writes fd as .proto source to w.
func WriteProto(w io.Writer, fd protoreflect.FileDescriptor) error {
	if fd.Syntax() != protoreflect.Proto3 {
		return fmt.Errorf("gateway: %s: only proto3 files can be printed, it is %s", fd.Path(), fd.Syntax())
	}
	p := &protoPrinter{w: bufio.NewWriter(w), locs: fd.SourceLocations()}
	p.line(0, "syntax = \"proto3\";")
	p.line(0, "")
	p.line(0, "package %s;", fd.Package())
	if imps := fd.Imports(); imps.Len() > 0 {
		p.line(0, "")
		for i := range imps.Len() {
			p.line(0, "import %s;", strconv.Quote(imps.Get(i).Path()))
		}
	}
	for i := range fd.Enums().Len() {
		p.line(0, "")
		p.enum(0, fd.Enums().Get(i))
	}
	for i := range fd.Messages().Len() {
		p.line(0, "")
		p.message(0, fd.Messages().Get(i))
	}
	for i := range fd.Services().Len() {
		p.line(0, "")
		p.service(fd.Services().Get(i))
	}
	return p.w.Flush()
}

type protoPrinter struct {
	w    *bufio.Writer
	locs protoreflect.SourceLocations
}

// line writes one indented line.
func (p *protoPrinter) line(depth int, format string, a ...any) {
	if format != "" {
		p.w.WriteString(strings.Repeat("  ", depth))
		fmt.Fprintf(p.w, format, a...)
	}
	p.w.WriteByte('\n')
}

// comment writes d's leading comment, if any.
func (p *protoPrinter) comment(depth int, d protoreflect.Descriptor) {
	c := p.locs.ByDescriptor(d).LeadingComments
	if c == "" {
		return
	}
	for _, l := range strings.Split(strings.TrimSuffix(c, "\n"), "\n") {
		p.line(depth, "//%s", l)
	}
}

func (p *protoPrinter) message(depth int, md protoreflect.MessageDescriptor) {
	p.comment(depth, md)
	p.line(depth, "message %s {", md.Name())
	for i := range md.Enums().Len() {
		p.enum(depth+1, md.Enums().Get(i))
	}
	for i := range md.Messages().Len() {
		if nested := md.Messages().Get(i); !nested.IsMapEntry() {
			p.message(depth+1, nested)
		}
	}
	done := map[protoreflect.OneofDescriptor]bool{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		od := fd.ContainingOneof()
		if od == nil || od.IsSynthetic() {
			p.field(depth+1, fd)
			continue
		}
		if done[od] {
			continue
		}
		done[od] = true
		p.comment(depth+1, od)
		p.line(depth+1, "oneof %s {", od.Name())
		for j := range od.Fields().Len() {
			p.field(depth+2, od.Fields().Get(j))
		}
		p.line(depth+1, "}")
	}
	p.line(depth, "}")
}

func (p *protoPrinter) field(depth int, fd protoreflect.FieldDescriptor) {
	p.comment(depth, fd)
	var typ string
	switch {
	case fd.IsMap():
		typ = "map<" + fieldTypeName(fd.MapKey()) + ", " + fieldTypeName(fd.MapValue()) + ">"
	case fd.IsList():
		typ = "repeated " + fieldTypeName(fd)
	case fd.HasOptionalKeyword():
		typ = "optional " + fieldTypeName(fd)
	default:
		typ = fieldTypeName(fd)
	}
	opts := ""
	if fd.HasJSONName() && fd.JSONName() != defaultJSONName(string(fd.Name())) {
		opts = " [json_name = " + strconv.Quote(fd.JSONName()) + "]"
	}
	p.line(depth, "%s %s = %d%s;", typ, fd.Name(), fd.Number(), opts)
}

// fieldTypeName is a field's type as .proto source writes it.
func fieldTypeName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "." + string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return "." + string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func (p *protoPrinter) enum(depth int, ed protoreflect.EnumDescriptor) {
	p.comment(depth, ed)
	p.line(depth, "enum %s {", ed.Name())
	for i := range ed.Values().Len() {
		v := ed.Values().Get(i)
		p.comment(depth+1, v)
		p.line(depth+1, "%s = %d;", v.Name(), v.Number())
	}
	p.line(depth, "}")
}

func (p *protoPrinter) service(sd protoreflect.ServiceDescriptor) {
	p.comment(0, sd)
	p.line(0, "service %s {", sd.Name())
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		in, out := "", ""
		if m.IsStreamingClient() {
			in = "stream "
		}
		if m.IsStreamingServer() {
			out = "stream "
		}
		p.comment(1, m)
		rpc := fmt.Sprintf("rpc %s(%s.%s) returns (%s.%s)", m.Name(), in, m.Input().FullName(), out, m.Output().FullName())
		opts, _ := m.Options().(*descriptorpb.MethodOptions)
		if level := opts.GetIdempotencyLevel(); level != descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN {
			p.line(1, "%s {", rpc)
			p.line(2, "option idempotency_level = %s;", level)
			p.line(1, "}")
			continue
		}
		p.line(1, "%s;", rpc)
	}
	p.line(0, "}")
}
