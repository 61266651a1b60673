package gateway

// This file guards the field numbers a gateway serves. A gRPC client built
// from the descriptors it served yesterday keeps sending and reading
// yesterday's numbers: if a backend upgrade renumbered a field (a field
// inserted into a struct that does not pin its numbers, see names.go) or
// gave a number another type, the client would read and write the wrong
// fields without any error. So a gateway refuses a new schema (on Refresh,
// or when a RemoteBackend reconnects or probes) that changes, for a message
// it already serves, the number or the type of a field it already serves,
// or gives a served number to another field. It keeps serving the old
// schema, returns a *SchemaChangeError from Refresh, logs each
// change at ERROR on the WithLogger logger, and calls the
// WithSchemaChangeObserver function (a metric). Added fields, added
// messages and removed fields are accepted: they cannot make a client
// misread a field. Restarting the gateway accepts any schema: the check
// compares with what this process serves, nothing is stored.

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// SchemaChange is one field a refused schema would change.
type SchemaChange struct {
	Message string // full proto name of the message, "native.Entry"
	Field   string // proto field name as served
	// OldNumber and NewNumber are the field's number as served and in the
	// new schema; OldType and NewType its type ("int64", "repeated
	// native.Entry", "map<string, int64>"). When a served number now
	// belongs to another field, Field is the served one and NewField names
	// the new owner.
	OldNumber, NewNumber int32
	OldType, NewType     string
	NewField             string
}

// String describes the change in one line, names capped.
func (c SchemaChange) String() string {
	s := fmt.Sprintf("message %s field %s", capName(c.Message), capName(c.Field))
	if c.NewField != "" {
		return s + fmt.Sprintf(": number %d now belongs to field %s (%s)", c.OldNumber, capName(c.NewField), capName(c.NewType))
	}
	if c.OldNumber != c.NewNumber {
		s += fmt.Sprintf(": number %d -> %d", c.OldNumber, c.NewNumber)
	}
	if c.OldType != c.NewType {
		s += fmt.Sprintf(": type %s -> %s", capName(c.OldType), capName(c.NewType))
	}
	return s
}

// SchemaChangeError is the error of a Refresh (or a reconnect) refused because the
// new schema changes fields the gateway serves.
type SchemaChangeError struct {
	Changes []SchemaChange
}

// Error names the first changes and how to accept them.
func (e *SchemaChangeError) Error() string {
	const shown = 3
	var b strings.Builder
	fmt.Fprintf(&b, "gateway: refused a new schema that changes %d served field(s), which clients built from the served descriptors would misread; still serving the old schema (pin field numbers with native:\"N\" tags; a restart accepts the new schema): ", len(e.Changes))
	for i, c := range e.Changes[:min(shown, len(e.Changes))] {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.String())
	}
	if len(e.Changes) > shown {
		fmt.Fprintf(&b, "; and %d more", len(e.Changes)-shown)
	}
	return b.String()
}

// capName quotes a name from a schema, cut to a short prefix.
func capName(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strconv.Quote(s[:max]) + "...(" + strconv.Itoa(len(s)) + " bytes)"
}

// schemaChanges lists the served fields that next changes (see the file
// comment); nil when it changes none.
func schemaChanges(served, next protoreflect.FileDescriptor) []SchemaChange {
	var out []SchemaChange
	var walk func(msgs protoreflect.MessageDescriptors)
	walk = func(msgs protoreflect.MessageDescriptors) {
		for i := range msgs.Len() {
			om := msgs.Get(i)
			walk(om.Messages())
			nd, _ := findMessage(next, om.FullName())
			if nd == nil {
				continue // a message no longer served: no client can misread it
			}
			out = append(out, fieldChanges(om, nd)...)
		}
	}
	walk(served.Messages())
	return out
}

// findMessage finds a message, nested or not, of file fd by full name.
func findMessage(fd protoreflect.FileDescriptor, name protoreflect.FullName) (protoreflect.MessageDescriptor, bool) {
	d := fd.Messages()
	parts := strings.Split(strings.TrimPrefix(string(name), string(fd.Package())+"."), ".")
	var m protoreflect.MessageDescriptor
	for _, p := range parts {
		m = d.ByName(protoreflect.Name(p))
		if m == nil {
			return nil, false
		}
		d = m.Messages()
	}
	return m, m != nil
}

// fieldChanges lists the changed fields of one message.
func fieldChanges(om, nm protoreflect.MessageDescriptor) []SchemaChange {
	var out []SchemaChange
	ofs, nfs := om.Fields(), nm.Fields()
	for i := range ofs.Len() {
		of := ofs.Get(i)
		c := SchemaChange{Message: string(om.FullName()), Field: string(of.Name()), OldNumber: int32(of.Number()), OldType: fieldType(of)}
		if nf := nfs.ByName(of.Name()); nf != nil {
			c.NewNumber, c.NewType = int32(nf.Number()), fieldType(nf)
			if c.NewNumber != c.OldNumber || c.NewType != c.OldType {
				out = append(out, c)
			}
			continue
		}
		// Removed or renamed: its number must not now carry another field.
		if nf := nfs.ByNumber(of.Number()); nf != nil {
			c.NewNumber, c.NewType, c.NewField = int32(nf.Number()), fieldType(nf), string(nf.Name())
			out = append(out, c)
		}
	}
	return out
}

// fieldType describes a field's type for comparison and messages.
func fieldType(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return "map<" + fieldType(fd.MapKey()) + ", " + fieldType(fd.MapValue()) + ">"
	}
	t := fd.Kind().String()
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		t = string(fd.Message().FullName())
	case protoreflect.EnumKind:
		t = string(fd.Enum().FullName())
	}
	if fd.IsList() {
		t = "repeated " + t
	}
	return t
}

// refuseChangesLocked returns a *SchemaChangeError when set changes fields
// of the set served now, after logging and observing it; otherwise it
// clears the refusal. g.mu must be held.
func (g *Gateway) refuseChangesLocked(set *protoSet) error {
	served := g.set.Load()
	var changes []SchemaChange
	if served != nil {
		changes = schemaChanges(served.file, set.file)
	}
	if len(changes) == 0 {
		g.refused.Store(nil)
		return nil
	}
	err := &SchemaChangeError{Changes: changes}
	g.refused.Store(err)
	const logged = 20
	for _, c := range changes[:min(logged, len(changes))] {
		g.cfg.logger.Error("gateway: refused a schema change that would renumber or retype a served field; still serving the old schema (a restart accepts it)",
			"message", capName(c.Message), "field", capName(c.Field), "old_number", c.OldNumber, "new_number", c.NewNumber,
			"old_type", capName(c.OldType), "new_type", capName(c.NewType), "new_field", capName(c.NewField))
	}
	if len(changes) > logged {
		g.cfg.logger.Error("gateway: more refused field changes not logged", "count", len(changes)-logged)
	}
	if g.cfg.onSchemaChange != nil {
		g.cfg.onSchemaChange(err)
	}
	return err
}

// RefusedSchema returns the error of the last schema the gateway refused because
// it changed served fields, or nil if the last schema offered was mounted.
func (g *Gateway) RefusedSchema() *SchemaChangeError { return g.refused.Load() }
