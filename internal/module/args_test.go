package module

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var testSpec = Spec{
	"name":     {Required: true},
	"count":    {Type: Int, Default: 3},
	"ratio":    {Type: Float},
	"enabled":  {Type: Bool, Default: true},
	"state":    {Choices: []any{"present", "absent"}, Default: "present"},
	"dest":     {Type: Path, Aliases: []string{"path"}},
	"tags":     {Type: List, Elements: Str},
	"ports":    {Type: List, Elements: Int, Choices: []any{22, 80, 443}},
	"extra":    {Type: Dict},
	"anything": {Type: Raw},
	"password": {NoLog: true},
	"nodes": {Type: List, Elements: Dict, Options: Spec{
		"name":    {Required: true},
		"address": {Required: true},
		"id":      {Type: Int},
	}},
	"auth": {Type: Dict, Options: Spec{
		"username": {},
		"secret":   {NoLog: true},
	}},
}

func decode(t *testing.T, args string) *Request {
	t.Helper()
	req, err := DecodeArgs("testmod", []byte(args), testSpec)
	if err != nil {
		t.Fatalf("DecodeArgs(%s): %v", args, err)
	}
	return req
}

func decodeErr(t *testing.T, args string) string {
	t.Helper()
	_, err := DecodeArgs("testmod", []byte(args), testSpec)
	if err == nil {
		t.Fatalf("DecodeArgs(%s): want an error, got none", args)
	}
	var ae *ArgsError
	if strings.HasPrefix(strings.TrimSpace(args), "{") && !errors.As(err, &ae) && !strings.Contains(err.Error(), "JSON") {
		t.Fatalf("want *ArgsError, got %T %v", err, err)
	}
	return err.Error()
}

func TestDefaultsAndInternalKeys(t *testing.T) {
	req := decode(t, `{"name": "a", "_ansible_check_mode": true, "_ansible_diff": "yes",
		"_ansible_no_log": false, "_ansible_verbosity": 3, "_ansible_future_key": {"x": 1},
		"_ansible_remote_tmp": "/tmp"}`)
	if !req.CheckMode || !req.Diff || req.NoLog || req.Verbosity != 3 {
		t.Errorf("flags: check=%v diff=%v nolog=%v verbosity=%d", req.CheckMode, req.Diff, req.NoLog, req.Verbosity)
	}
	p := req.Params
	if p.String("name") != "a" || p.Int("count") != 3 || !p.Bool("enabled") || p.String("state") != "present" {
		t.Errorf("defaults not applied: %#v", p)
	}
	if p.IsSet("dest") || p["dest"] != nil {
		t.Errorf("unset option without default must be nil, got %#v", p["dest"])
	}
	if _, ok := p["_ansible_check_mode"]; ok {
		t.Error("_ansible_* keys must not reach Params")
	}
}

func TestConversions(t *testing.T) {
	cases := []struct {
		name string
		args string
		key  string
		want any
	}{
		{"int from string", `{"name":"a","count":"7"}`, "count", 7},
		{"int from integral float", `{"name":"a","count":7.0}`, "count", 7},
		{"int from number", `{"name":"a","count":12}`, "count", 12},
		{"float from string", `{"name":"a","ratio":"1.5"}`, "ratio", 1.5},
		{"bool yes", `{"name":"a","enabled":"yes"}`, "enabled", true},
		{"bool No", `{"name":"a","enabled":"No"}`, "enabled", false},
		{"bool 1", `{"name":"a","enabled":1}`, "enabled", true},
		{"bool '0'", `{"name":"a","enabled":"0"}`, "enabled", false},
		{"bool on", `{"name":"a","enabled":"on"}`, "enabled", true},
		{"str from number", `{"name":42}`, "name", "42"},
		{"str from bool", `{"name":true}`, "name", "True"},
		{"list from comma string", `{"name":"a","tags":"x,y"}`, "tags", []any{"x", "y"}},
		{"list elements converted", `{"name":"a","tags":[1,"b"]}`, "tags", []any{"1", "b"}},
		{"int elements", `{"name":"a","ports":["22", 80]}`, "ports", []any{22, 80}},
		{"dict from json string", `{"name":"a","extra":"{\"k\": \"v\"}"}`, "extra", map[string]any{"k": "v"}},
		{"dict from k=v", `{"name":"a","extra":"a=1, b=2"}`, "extra", map[string]any{"a": "1", "b": "2"}},
		{"raw keeps structure", `{"name":"a","anything":{"n":[1,2.5,"x"]}}`, "anything", map[string]any{"n": []any{1, 2.5, "x"}}},
		{"alias", `{"name":"a","path":"/etc/x"}`, "dest", "/etc/x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := decode(t, c.args).Params[c.key]
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s = %#v, want %#v", c.key, got, c.want)
			}
		})
	}
}

func TestPathExpansion(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skipf("no home directory: %v", err)
	}
	t.Setenv("CM_TEST_DIR", "/srv/x")
	if got := decode(t, `{"name":"a","dest":"~/f"}`).Params.String("dest"); got != filepath.Join(home, "f") {
		t.Errorf("~ not expanded: %q", got)
	}
	if got := decode(t, `{"name":"a","dest":"$CM_TEST_DIR/f"}`).Params.String("dest"); got != "/srv/x/f" {
		t.Errorf("$VAR not expanded: %q", got)
	}
}

func TestNestedOptions(t *testing.T) {
	req := decode(t, `{"name":"a","nodes":[{"name":"n1","address":"10.0.0.1","id":"4"},{"name":"n2","address":"10.0.0.2"}]}`)
	nodes := req.Params.Dicts("nodes")
	if len(nodes) != 2 || nodes[0].Int("id") != 4 || nodes[1].IsSet("id") || nodes[1].String("address") != "10.0.0.2" {
		t.Errorf("nodes = %#v", nodes)
	}
	var decoded struct {
		Nodes []struct {
			Name string `json:"name"`
			ID   *int   `json:"id"`
		} `json:"nodes"`
	}
	if err := req.Params.Decode(&decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Nodes[0].ID == nil || *decoded.Nodes[0].ID != 4 || decoded.Nodes[1].ID != nil {
		t.Errorf("Decode: %+v", decoded)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, args string
		want       []string
	}{
		{"unknown option", `{"name":"a","colour":"red","size":1}`, []string{"Unsupported parameters for (testmod) module: colour, size", "Supported parameters include:", "path"}},
		{"missing required", `{}`, []string{"missing required arguments: name"}},
		{"null required", `{"name":null}`, []string{"missing required arguments: name"}},
		{"bad int", `{"name":"a","count":"three"}`, []string{"option count", `"three"`, "int"}},
		{"fractional int", `{"name":"a","count":2.5}`, []string{"option count", "int"}},
		{"bad bool", `{"name":"a","enabled":"maybe"}`, []string{"option enabled", "valid boolean"}},
		{"bad float", `{"name":"a","ratio":"x"}`, []string{"option ratio", "float"}},
		{"choice", `{"name":"a","state":"gone"}`, []string{"value of state must be one of: present, absent, got: gone"}},
		{"list choice", `{"name":"a","ports":[22,8080]}`, []string{"value of ports must be one of", "8080"}},
		{"list element type", `{"name":"a","ports":[22,"x"]}`, []string{"option ports[1]"}},
		{"str from list", `{"name":["a"]}`, []string{"option name", "a list"}},
		{"dict from list", `{"name":"a","extra":[1]}`, []string{"option extra", "dict"}},
		{"bad k=v dict", `{"name":"a","extra":"novalue"}`, []string{"option extra", "key=value"}},
		{"list from dict", `{"name":"a","tags":{"a":1}}`, []string{"option tags", "list"}},
		{"nested unknown", `{"name":"a","nodes":[{"name":"n","address":"x","port":1}]}`, []string{"nodes[0].port"}},
		{"nested missing", `{"name":"a","nodes":[{"name":"n"}]}`, []string{"missing required arguments: nodes[0].address"}},
		{"nested element not dict", `{"name":"a","nodes":["n1"]}`, []string{"option nodes[0]", "dict"}},
		{"alias and name", `{"name":"a","dest":"/a","path":"/b"}`, []string{"dest is set twice"}},
		{"several problems", `{"count":"x","bogus":1}`, []string{"bogus", "option count", "missing required arguments: name"}},
		{"not an object", `[1,2]`, []string{"must be a JSON object, got a list"}},
		{"invalid json", `{"name":`, []string{"not valid JSON"}},
		{"two values", `{"name":"a"} {"name":"b"}`, []string{"more than one JSON value"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := decodeErr(t, c.args)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestInvocationMasksNoLog(t *testing.T) {
	req := decode(t, `{"name":"a","password":"hunter2","auth":{"username":"u","secret":"s3cr3t"}}`)
	inv := req.invocation
	if inv["password"] != NoLogPlaceholder {
		t.Errorf("password in invocation = %#v", inv["password"])
	}
	auth := inv["auth"].(map[string]any)
	if auth["secret"] != NoLogPlaceholder || auth["username"] != "u" {
		t.Errorf("auth in invocation = %#v", auth)
	}
	if req.Params.String("password") != "hunter2" || req.Params.Dict("auth").String("secret") != "s3cr3t" {
		t.Error("the module itself must see the real secret values")
	}
	if !reflect.DeepEqual(req.secrets, []string{"s3cr3t", "hunter2"}) && !reflect.DeepEqual(req.secrets, []string{"hunter2", "s3cr3t"}) {
		t.Errorf("secrets = %#v", req.secrets)
	}
}

func TestParamsAccessorsOnWrongTypes(t *testing.T) {
	p := Params{"s": 1, "n": "x", "l": "notalist", "d": []any{1}}
	if p.String("s") != "" || p.Int("n") != 0 || len(p.Strings("l")) != 0 || p.Dict("d") != nil || len(p.Dicts("d")) != 0 || p.Bool("s") || p.Float("s") != 0 {
		t.Error("accessors must return zero values for other types")
	}
	if got := (Params{"l": []any{"a", 2}}).Strings("l"); !reflect.DeepEqual(got, []string{"a", "2"}) {
		t.Errorf("Strings = %#v", got)
	}
	if err := (Params{"x": func() {}}).Decode(&struct{}{}); err == nil {
		t.Error("Decode of an unencodable value must fail")
	}
	if err := (Params{"x": "s"}).Decode(&struct {
		X int `json:"x"`
	}{}); err == nil {
		t.Error("Decode into a mismatched field must fail")
	}
}

// Defaults are Go values, not JSON: every kind must accept them.
func TestConvertGoValues(t *testing.T) {
	cases := []struct {
		kind Kind
		in   any
		want any
	}{
		{Str, 7, "7"}, {Str, 1.5, "1.5"}, {Str, false, "False"},
		{Int, 7, 7}, {Int, true, 1}, {Int, false, 0}, {Int, 4.0, 4}, {Int, " 12 ", 12}, {Int, "1e2", 100},
		{Float, 2.5, 2.5}, {Float, 3, 3.0},
		{Bool, 1, true}, {Bool, 0.0, false}, {Bool, "T", true},
		{List, []string{"a"}, []any{"a"}}, {List, 5, []any{"5"}}, {List, true, []any{"True"}},
		{Dict, map[string]any{"a": 1}, map[string]any{"a": 1}},
		{Raw, nil, nil}, {Raw, []any{json.Number("1.5")}, []any{1.5}},
	}
	for _, c := range cases {
		got, err := convert(c.kind, c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("convert(%s, %#v) = %#v, %v; want %#v", c.kind, c.in, got, err, c.want)
		}
	}
	bad := []struct {
		kind Kind
		in   any
	}{
		{Str, nil}, {Str, map[string]any{}}, {Path, []any{}}, {Int, 2.5}, {Int, []any{}}, {Int, "x"},
		{Float, true}, {Float, json.Number("x")}, {Bool, 2}, {Bool, nil}, {List, nil}, {Dict, 3}, {Kind("blob"), "x"},
		{Int, struct{}{}},
	}
	for _, c := range bad {
		if got, err := convert(c.kind, c.in); err == nil {
			t.Errorf("convert(%s, %#v) = %#v, want an error", c.kind, c.in, got)
		}
	}
}

func TestSecretsFromStructuredNoLog(t *testing.T) {
	spec := Spec{"token": {Type: Raw, NoLog: true}}
	req, err := DecodeArgs("m", []byte(`{"token":{"a":["x1",{"b":"y2"}],"n":3}}`), spec)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range req.secrets {
		got[s] = true
	}
	if !got["x1"] || !got["y2"] || len(got) != 2 {
		t.Errorf("secrets = %v", req.secrets)
	}
}

// A value that does not convert, or is not among the choices, is quoted in
// the message, except under a no_log option.
func TestBadNoLogValueNotQuoted(t *testing.T) {
	spec := Spec{
		"vault": {Type: Dict, NoLog: true, Options: Spec{
			"pin":  {Type: Int},
			"mode": {Choices: []any{"a", "b"}},
		}},
		"pins": {Type: List, Elements: Int, NoLog: true},
		"name": {},
	}
	for args, want := range map[string]string{
		`{"vault": "pw=Sup3rS3cret user"}`:      "option vault: the value given is not a valid dict (not shown: no_log)",
		`{"vault": {"pin": "Sup3rS3cret"}}`:     "option vault.pin: the value given is not a valid int (not shown: no_log)",
		`{"vault": {"mode": "Sup3rS3cret"}}`:    "value of vault.mode must be one of: a, b (the value given is not shown: no_log)",
		`{"pins": [1, "Sup3rS3cret"]}`:          "option pins[1]: the value given is not a valid int (not shown: no_log)",
		`{"vault": {"pin": 1}, "name": [1, 2]}`: "option name: a list cannot be converted to str",
	} {
		_, err := DecodeArgs("testmod", []byte(args), spec)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Sup3rS3cret") {
			t.Errorf("%s: %v; want %q and no secret", args, err, want)
		}
	}
}

func TestNumbersEqualToASecretAreMasked(t *testing.T) {
	got := maskSecrets(map[string]any{"pin": 739182.0, "n": json.Number("739182"), "size": 1.0, "s": "pin 739182"}, []string{"739182"})
	want := map[string]any{"pin": MaskedValue, "n": MaskedValue, "size": 1.0, "s": "pin " + MaskedValue}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v", got)
	}
}
