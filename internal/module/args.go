package module

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// NoLogPlaceholder replaces a no_log option's value in invocation.module_args,
// as Ansible does.
const NoLogPlaceholder = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

// Request is one validated module invocation.
type Request struct {
	Name      string // the module's name, for messages
	Params    Params
	CheckMode bool
	Diff      bool
	NoLog     bool
	Verbosity int

	invocation map[string]any // Params with no_log values replaced
	secrets    []string       // values never to print
}

// AddSecret registers a value that must never appear in any output, such as a
// password read from clouds.yaml rather than from the options.
func (r *Request) AddSecret(s string) {
	if s != "" {
		r.secrets = append(r.secrets, s)
	}
}

// ArgsError reports arguments that do not match the spec. Nothing has been
// done when it is returned.
type ArgsError struct{ Problems []string }

func (e *ArgsError) Error() string { return strings.Join(e.Problems, "; ") }

// DecodeArgs parses the args file content and validates it against spec.
// Unknown _ansible_* keys are ignored; unknown options are an error.
func DecodeArgs(name string, data []byte, spec Spec) (*Request, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("module arguments are not valid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("module arguments hold more than one JSON value")
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("module arguments must be a JSON object, got %s", typeName(raw))
	}

	req := &Request{Name: name}
	v := &validator{module: name}
	options := map[string]any{}
	for k, val := range obj {
		if !strings.HasPrefix(k, "_ansible_") {
			options[k] = val
			continue
		}
		switch k {
		case "_ansible_check_mode":
			req.CheckMode = v.internalBool(k, val)
		case "_ansible_diff":
			req.Diff = v.internalBool(k, val)
		case "_ansible_no_log":
			req.NoLog = v.internalBool(k, val)
		case "_ansible_verbosity":
			if n, err := toInt(val); err == nil {
				req.Verbosity = n
			}
		}
	}
	params, invocation := v.object(spec, options, "")
	if len(v.problems) > 0 {
		return nil, &ArgsError{Problems: v.problems}
	}
	req.Params = params
	req.invocation = invocation
	req.secrets = v.secrets
	return req, nil
}

type validator struct {
	module   string
	problems []string
	secrets  []string
	// noLog counts the no_log options being validated around the current
	// one: their values must not appear in a message, not even a bad one.
	noLog int
}

func (v *validator) fail(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// internalBool reads an _ansible_* flag leniently: these come from Ansible
// itself, so a malformed one is treated as false rather than failing.
func (v *validator) internalBool(_ string, val any) bool {
	b, err := toBool(val)
	return err == nil && b
}

// object validates one level of options. It returns the converted values and
// the same values with no_log options masked, for invocation.module_args.
func (v *validator) object(spec Spec, in map[string]any, where string) (Params, map[string]any) {
	canonical := map[string]string{}
	for name, opt := range spec {
		canonical[name] = name
		for _, a := range opt.Aliases {
			canonical[a] = name
		}
	}

	given := map[string]any{}
	var unknown []string
	for _, k := range sortedKeys(in) {
		name, ok := canonical[k]
		if !ok {
			unknown = append(unknown, where+k)
			continue
		}
		if _, dup := given[name]; dup {
			v.fail("option %s%s is set twice (directly and through an alias)", where, name)
			continue
		}
		given[name] = in[k]
	}
	if len(unknown) > 0 {
		v.fail("Unsupported parameters for (%s) module: %s. Supported parameters include: %s.",
			v.module, strings.Join(unknown, ", "), strings.Join(supported(spec), ", "))
	}

	out := Params{}
	masked := map[string]any{}
	var missing []string
	for _, name := range spec.names() {
		opt := spec[name]
		val, present := given[name]
		if !present || val == nil {
			if opt.Required {
				missing = append(missing, where+name)
				continue
			}
			if opt.Default == nil {
				out[name] = nil
				masked[name] = nil
				continue
			}
			val = opt.Default
		}
		if opt.NoLog {
			v.noLog++
		}
		conv, ok := v.convert(opt, val, where+name)
		var maskedVal any
		if ok {
			conv, maskedVal = v.nested(opt, conv, where+name)
			v.checkChoices(opt, conv, where+name)
		}
		if opt.NoLog {
			v.noLog--
		}
		if !ok {
			continue
		}
		out[name] = conv
		if opt.NoLog {
			v.collectSecrets(conv)
			masked[name] = NoLogPlaceholder
		} else {
			masked[name] = maskedVal
		}
	}
	if len(missing) > 0 {
		v.fail("missing required arguments: %s", strings.Join(missing, ", "))
	}
	return out, masked
}

func supported(spec Spec) []string {
	var all []string
	for name, opt := range spec {
		all = append(all, name)
		all = append(all, opt.Aliases...)
	}
	sort.Strings(all)
	return all
}

// nested validates sub-options of dicts and of lists of dicts.
func (v *validator) nested(opt Option, val any, where string) (any, any) {
	if opt.Options == nil {
		return val, val
	}
	switch opt.kind() {
	case Dict:
		p, m := v.object(opt.Options, val.(map[string]any), where+".")
		return map[string]any(p), m
	case List:
		if opt.Elements != Dict {
			return val, val
		}
		items := val.([]any)
		conv := make([]any, len(items))
		masked := make([]any, len(items))
		for i, item := range items {
			p, m := v.object(opt.Options, item.(map[string]any), fmt.Sprintf("%s[%d].", where, i))
			conv[i], masked[i] = map[string]any(p), m
		}
		return conv, masked
	}
	return val, val
}

func (v *validator) convert(opt Option, val any, where string) (any, bool) {
	conv, err := convert(opt.kind(), val)
	if err != nil {
		v.failValue(opt, where, err)
		return nil, false
	}
	if opt.kind() != List || opt.Elements == "" {
		return conv, true
	}
	items := conv.([]any)
	out := make([]any, len(items))
	for i, item := range items {
		c, err := convert(opt.Elements, item)
		if err != nil {
			v.failValue(Option{Type: opt.Elements}, fmt.Sprintf("%s[%d]", where, i), err)
			return nil, false
		}
		out[i] = c
	}
	return out, true
}

// failValue reports a value that does not convert; under a no_log option
// without the value, which the error quotes.
func (v *validator) failValue(opt Option, where string, err error) {
	if v.noLog > 0 {
		v.fail("option %s: the value given is not a valid %s (not shown: no_log)", where, opt.kind())
		return
	}
	v.fail("option %s: %v", where, err)
}

func (v *validator) checkChoices(opt Option, val any, where string) {
	if len(opt.Choices) == 0 || val == nil {
		return
	}
	values := []any{val}
	if items, ok := val.([]any); ok {
		values = items
	}
	for _, x := range values {
		if !containsValue(opt.Choices, x) {
			choices := make([]string, len(opt.Choices))
			for i, c := range opt.Choices {
				choices[i] = fmt.Sprint(c)
			}
			if v.noLog > 0 {
				v.fail("value of %s must be one of: %s (the value given is not shown: no_log)", where, strings.Join(choices, ", "))
				return
			}
			v.fail("value of %s must be one of: %s, got: %v", where, strings.Join(choices, ", "), x)
			return
		}
	}
}

func containsValue(choices []any, x any) bool {
	for _, c := range choices {
		if fmt.Sprint(c) == fmt.Sprint(x) {
			return true
		}
	}
	return false
}

func (v *validator) collectSecrets(val any) {
	switch t := val.(type) {
	case string:
		if t != "" {
			v.secrets = append(v.secrets, t)
		}
	case []any:
		for _, x := range t {
			v.collectSecrets(x)
		}
	case map[string]any:
		for _, x := range t {
			v.collectSecrets(x)
		}
	}
}

// convert applies Ansible's conversions for one kind.
func convert(kind Kind, val any) (any, error) {
	switch kind {
	case Str:
		return toStr(val)
	case Path:
		s, err := toStr(val)
		if err != nil {
			return nil, err
		}
		return expandPath(s), nil
	case Int:
		return toInt(val)
	case Float:
		return toFloat(val)
	case Bool:
		return toBool(val)
	case List:
		return toList(val)
	case Dict:
		return toDict(val)
	case Raw:
		return normalizeRaw(val), nil
	}
	return nil, fmt.Errorf("unknown option type %q", kind)
}

func toStr(val any) (string, error) {
	switch t := val.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		if t {
			return "True", nil
		}
		return "False", nil
	case int:
		return strconv.Itoa(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("%s cannot be converted to str", typeName(val))
}

func toInt(val any) (int, error) {
	switch t := val.(type) {
	case int:
		return t, nil
	case bool:
		if t {
			return 1, nil
		}
		return 0, nil
	case json.Number:
		return numberToInt(t.String())
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int(t), nil
		}
	case string:
		return numberToInt(strings.TrimSpace(t))
	}
	return 0, fmt.Errorf("%s %s cannot be converted to int", typeName(val), quote(val))
}

func numberToInt(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int(f), nil
	}
	return 0, fmt.Errorf("%q cannot be converted to int", s)
}

func toFloat(val any) (float64, error) {
	switch t := val.(type) {
	case float64:
		return t, nil
	case int:
		return float64(t), nil
	case json.Number:
		if f, err := t.Float64(); err == nil {
			return f, nil
		}
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(t), 64); err == nil {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%s %s cannot be converted to float", typeName(val), quote(val))
}

var (
	truthy = map[string]bool{"y": true, "yes": true, "on": true, "1": true, "true": true, "t": true, "1.0": true}
	falsy  = map[string]bool{"n": true, "no": true, "off": true, "0": true, "false": true, "f": true, "0.0": true}
)

func toBool(val any) (bool, error) {
	var s string
	switch t := val.(type) {
	case bool:
		return t, nil
	case string:
		s = strings.ToLower(strings.TrimSpace(t))
	case json.Number:
		s = t.String()
	case int:
		s = strconv.Itoa(t)
	case float64:
		s = strconv.FormatFloat(t, 'f', 1, 64)
	default:
		return false, fmt.Errorf("%s cannot be converted to bool", typeName(val))
	}
	switch {
	case truthy[s]:
		return true, nil
	case falsy[s]:
		return false, nil
	}
	return false, fmt.Errorf("%s is not a valid boolean; valid booleans include yes, no, true, false, 1, 0", quote(val))
}

func toList(val any) ([]any, error) {
	switch t := val.(type) {
	case []any:
		return t, nil
	case []string:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = x
		}
		return out, nil
	case string:
		parts := strings.Split(t, ",")
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case json.Number, bool, int, float64:
		s, _ := toStr(t)
		return []any{s}, nil
	}
	return nil, fmt.Errorf("%s cannot be converted to list", typeName(val))
}

func toDict(val any) (map[string]any, error) {
	switch t := val.(type) {
	case map[string]any:
		return t, nil
	case string:
		s := strings.TrimSpace(t)
		if strings.HasPrefix(s, "{") {
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				return nil, fmt.Errorf("cannot convert string to dict: not a JSON object: %v", err)
			}
			return m, nil
		}
		m := map[string]any{}
		for _, field := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			k, v, ok := strings.Cut(field, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("cannot convert %q to dict: %q is not a key=value pair", s, field)
			}
			m[k] = v
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s cannot be converted to dict", typeName(val))
}

// normalizeRaw turns json.Number into int or float64, recursively.
func normalizeRaw(val any) any {
	switch t := val.(type) {
	case json.Number:
		if n, err := strconv.Atoi(t.String()); err == nil {
			return n
		}
		f, _ := t.Float64()
		return f
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = normalizeRaw(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = normalizeRaw(x)
		}
		return out
	}
	return val
}

func expandPath(s string) string {
	if s == "~" || strings.HasPrefix(s, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			s = home + s[1:]
		}
	}
	return os.ExpandEnv(s)
}

func typeName(val any) string {
	switch val.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, int, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a dict"
	}
	return fmt.Sprintf("%T", val)
}

func quote(val any) string {
	switch t := val.(type) {
	case string:
		return strconv.Quote(t)
	case json.Number:
		return t.String()
	}
	return fmt.Sprint(val)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
