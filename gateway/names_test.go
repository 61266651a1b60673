package gateway

import (
	"strings"
	"testing"

	"github.com/framegate/framegate/native"
)

func TestSanitizeIdent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"List", "List"},
		{"list_all2", "list_all2"},
		{"_x", "_x"},
		{"", "_"},
		{"a-b", "a_b"},
		{"a.b.c", "a_b_c"},
		{"2fa", "_2fa"},
		{"9", "_9"},
		{"héllo", "h_llo"}, // one '_' per rune, not per byte
		{"日本", "__"},
		{"a b\tc", "a_b_c"},
		{"x\xffy", "x_y"}, // invalid UTF-8 is one rune
		{"$ref", "_ref"},
	} {
		got := sanitizeIdent(tc.in)
		if got != tc.want {
			t.Errorf("sanitizeIdent(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !isIdent(got) {
			t.Errorf("sanitizeIdent(%q) = %q is not an identifier", tc.in, got)
		}
	}
}

func TestCheckPackage(t *testing.T) {
	for _, tc := range []struct {
		pkg string
		ok  bool
	}{
		{"native", true},
		{"acme.files.v1", true},
		{"_x.y2", true},
		{"", false},
		{"a..b", false},
		{".a", false},
		{"a.", false},
		{"a-b", false},
		{"1a", false},
		{"google", false},
		{"google.protobuf", false},
		{"googleapis", true},
	} {
		err := checkPackage(tc.pkg)
		if (err == nil) != tc.ok {
			t.Errorf("checkPackage(%q) = %v, want ok=%v", tc.pkg, err, tc.ok)
		}
	}
}

func TestEndpointNames(t *testing.T) {
	for _, tc := range []struct{ endpoint, svc, method string }{
		{"Store.List", "Store", "List"},
		{"files.v1.Store.List", "files_v1_Store", "List"},
		{"Ping", "Default", "Ping"},
		{"a-b.do-it", "a_b", "do_it"},
		{"Store.2x", "Store", "_2x"},
		{"Store.", "Store", "_"},
		{".List", "_", "List"},
	} {
		svc, m := endpointNames(tc.endpoint)
		if svc != tc.svc || m != tc.method {
			t.Errorf("endpointNames(%q) = %q, %q, want %q, %q", tc.endpoint, svc, m, tc.svc, tc.method)
		}
	}
	if got := fullMethodName("acme.v1", "Store", "List"); got != "/acme.v1.Store/List" {
		t.Errorf("fullMethodName = %q", got)
	}
}

func TestMessageNames(t *testing.T) {
	msgs := func(names ...string) map[string]*native.Message {
		m := map[string]*native.Message{}
		for _, n := range names {
			m[n] = &native.Message{Name: n}
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		services []string
		msgs     map[string]*native.Message
		want     map[string]string
		err      string
	}{
		{
			name: "short names when unique",
			msgs: msgs("store.ListRequest", "store.ListResponse", "store.ListResponse.Entry", "Bare"),
			want: map[string]string{"store.ListRequest": "ListRequest", "store.ListResponse": "ListResponse",
				"store.ListResponse.Entry": "ListResponse_Entry", "Bare": "Bare"},
		},
		{
			name: "long names for ambiguous short names",
			msgs: msgs("store.Item", "github_com_a_store.Item", "other.Thing"),
			want: map[string]string{"store.Item": "store_Item", "github_com_a_store.Item": "github_com_a_store_Item", "other.Thing": "Thing"},
		},
		{
			name:     "long name when the short one is a service",
			services: []string{"Store"},
			msgs:     msgs("store.Store", "store.Other"),
			want:     map[string]string{"store.Store": "store_Store", "store.Other": "Other"},
		},
		{
			name: "a short name equal to another's long name moves too",
			msgs: msgs("a.b", "c.b", "x.a_b"),
			want: map[string]string{"a.b": "a_b", "c.b": "c_b", "x.a_b": "x_a_b"},
		},
		{
			name: "sanitized",
			msgs: msgs("my-pkg.Foo-Bar", "p.9Lives"),
			want: map[string]string{"my-pkg.Foo-Bar": "Foo_Bar", "p.9Lives": "_9Lives"},
		},
		{
			name: "two long names clash",
			msgs: msgs("a-b.X", "a_b.X"),
			err:  `gateway: message "a-b.X" and message "a_b.X" both map to proto name "a_b_X"`,
		},
		{
			name:     "message clashes with a service",
			services: []string{"store_Store"},
			msgs:     msgs("store.Store", "other.Store"),
			err:      `gateway: service "store_Store" (endpoint "x") and message "store.Store" both map to proto name "store_Store"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := newNameTable()
			for _, s := range tc.services {
				names.claim(s, `service "`+s+`" (endpoint "x")`)
			}
			got, err := messageNames(tc.msgs, names)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%q -> %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestNameTablePick(t *testing.T) {
	n := newNameTable()
	n.claim("ListRequest", "message a")
	if got := n.pick("x", "ListRequest", "StoreListRequest"); got != "StoreListRequest" {
		t.Errorf("pick = %q", got)
	}
	if got := n.pick("y", "ListRequest", "StoreListRequest"); got != "StoreListRequest_2" {
		t.Errorf("pick = %q", got)
	}
	if got := n.pick("z", "StoreListRequest"); got != "StoreListRequest_3" {
		t.Errorf("pick = %q", got)
	}
}

func TestMapEntryName(t *testing.T) {
	for in, want := range map[string]string{"tags": "TagsEntry", "by_name": "ByNameEntry", "byName": "ByNameEntry", "_x": "XEntry", "a__b": "ABEntry", "x2y": "X2yEntry"} {
		if got := mapEntryName(in); got != want {
			t.Errorf("mapEntryName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldNames(t *testing.T) {
	for _, tc := range []struct {
		name       string
		json       []string
		isMap      []bool
		optional   []bool
		wantNames  []string
		wantOneofs []string
	}{
		{
			name: "plain", json: []string{"id", "displayName", "created_at"},
			wantNames: []string{"id", "displayName", "created_at"},
		},
		{
			name: "sanitized and deduplicated", json: []string{"a-b", "a_b", "a.b", "2x"},
			wantNames: []string{"a_b", "a_b_2", "a_b_3", "_2x"},
		},
		{
			name: "map entry clashes with a later field", json: []string{"x", "XEntry"}, isMap: []bool{true, false},
			wantNames: []string{"x", "XEntry_2"},
		},
		{
			name: "map entry clashes with an earlier field", json: []string{"XEntry", "x"}, isMap: []bool{false, true},
			wantNames: []string{"XEntry", "x_2"},
		},
		{
			// "_1st" would name its entry "1stEntry", which is no name
			// (found by FuzzTranscodeDiff's random schemas).
			name: "map named with a digit first", json: []string{"1st", "2nd"}, isMap: []bool{true, false},
			wantNames: []string{"m_1st", "_2nd"},
		},
		{
			name: "synthetic oneofs", json: []string{"a", "_a", "b"}, optional: []bool{true, false, true},
			wantNames: []string{"a", "_a", "b"}, wantOneofs: []string{"X_a", "", "_b"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.json)
			isMap, optional := tc.isMap, tc.optional
			if isMap == nil {
				isMap = make([]bool, n)
			}
			if optional == nil {
				optional = make([]bool, n)
			}
			numbers := make([]int32, n)
			for i := range numbers {
				numbers[i] = fieldNumber(0, i)
			}
			names, oneofs := fieldNames(tc.json, numbers, isMap, optional)
			if strings.Join(names, ",") != strings.Join(tc.wantNames, ",") {
				t.Errorf("names = %q, want %q", names, tc.wantNames)
			}
			if tc.wantOneofs != nil && strings.Join(oneofs, ",") != strings.Join(tc.wantOneofs, ",") {
				t.Errorf("oneofs = %q, want %q", oneofs, tc.wantOneofs)
			}
		})
	}
}
