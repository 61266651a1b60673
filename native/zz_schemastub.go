package native

import "reflect"

// TEMPORARY until schemabuild.go lands.
type schemaInput struct {
	Name              string
	Request, Response BodyKind
	ReqType, RespType reflect.Type
}

func buildSchema(eps []schemaInput) (*Schema, error) { return &Schema{}, nil }
func checkJSONType(t reflect.Type) error             { return nil }
