package native

// This file holds the rules for pinned field numbers: the `native:"N"`
// struct tag, and the check every Message's numbers pass, in the server that
// builds the schema and in a gateway that reads one from another process.

import (
	"fmt"
	"strconv"
	"strings"
)

// FieldNumberTag is the struct tag key that pins a field's protobuf number:
//
//	Size int64 `json:"size" native:"2"`
//
// The value is the number alone, in decimal. Other forms are refused, so
// that later options can be added to the tag without changing what an
// existing tag means.
const FieldNumberTag = "native"

// The protobuf field numbers a pinned field may have: MinFieldNumber to
// MaxFieldNumber, except FirstReservedFieldNumber to LastReservedFieldNumber,
// which protobuf keeps for its own use.
const (
	MinFieldNumber           = 1
	MaxFieldNumber           = 1<<29 - 1 // 536870911
	FirstReservedFieldNumber = 19000
	LastReservedFieldNumber  = 19999
)

// parseFieldNumberTag parses the value of a FieldNumberTag tag. The error
// says how to write one; it does not check the range (checkFieldNumbers
// does).
func parseFieldNumberTag(v string) (int32, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || strings.HasPrefix(v, "+") || len(v) > 1 && v[0] == '0' {
		return 0, fmt.Errorf("%s tag %s is not a field number: write the number alone, as in %s:\"3\"",
			FieldNumberTag, strconv.Quote(quoteCap(v)), FieldNumberTag)
	}
	return int32(n), nil
}

// quoteCap cuts s to a short prefix for an error message.
func quoteCap(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:max], len(s))
}

// CheckNumbers reports whether m's field numbers follow the rules: either
// no field has a Number (fields are numbered by position) or every field
// has one, each in MinFieldNumber..MaxFieldNumber, outside the reserved
// range, and no two alike. The error names the field and says how to fix
// it.
func (m *Message) CheckNumbers() error {
	names := make([]string, len(m.Fields))
	nums := make([]int32, len(m.Fields))
	pinned := make([]bool, len(m.Fields))
	for i, f := range m.Fields {
		names[i], nums[i], pinned[i] = strconv.Quote(quoteCap(f.Name)), f.Number, f.Number != 0
	}
	if err := checkFieldNumbers(names, nums, pinned); err != nil {
		return fmt.Errorf("native: message %s: %w", strconv.Quote(quoteCap(m.Name)), err)
	}
	return nil
}

// checkFieldNumbers checks the numbers of one message's fields, named by
// names (as the error should show them); pinned[i] says field i carries a
// number. It returns nil when no field is pinned.
func checkFieldNumbers(names []string, nums []int32, pinned []bool) error {
	first := -1
	for i, p := range pinned {
		if p {
			first = i
			break
		}
	}
	if first < 0 {
		return nil
	}
	seen := make(map[int32]int, len(nums))
	for i, n := range nums {
		if !pinned[i] {
			return fmt.Errorf("field %s has no %s:\"N\" tag but field %s pins %d: pin every field of the struct or none, so that adding a field never renumbers another (by position %s would be %d)",
				names[i], FieldNumberTag, names[first], nums[first], names[i], i+1)
		}
		switch {
		case n < MinFieldNumber || n > MaxFieldNumber:
			return fmt.Errorf("field %s: number %d is out of range: field numbers run from %d to %d",
				names[i], n, MinFieldNumber, MaxFieldNumber)
		case n >= FirstReservedFieldNumber && n <= LastReservedFieldNumber:
			return fmt.Errorf("field %s: number %d is in %d-%d, which protobuf reserves; pick another",
				names[i], n, FirstReservedFieldNumber, LastReservedFieldNumber)
		}
		if j, dup := seen[n]; dup {
			return fmt.Errorf("fields %s and %s both have number %d; give each field its own number (the highest in use is %d)",
				names[j], names[i], n, maxNumber(nums))
		}
		seen[n] = i
	}
	return nil
}

// maxNumber returns the highest of nums.
func maxNumber(nums []int32) int32 {
	var m int32
	for _, n := range nums {
		m = max(m, n)
	}
	return m
}
