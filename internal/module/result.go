package module

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// MaskedValue replaces a secret found inside any output string.
const MaskedValue = "********"

// Result is what a module reports on success.
type Result struct {
	Changed  bool
	Msg      string
	Diff     *Diff // shown only when Ansible runs with --diff
	Warnings []string
	Values   map[string]any // the module's own return values
}

// Diff is Ansible's before/after pair. Before and After may be strings or
// structured values; Ansible renders structured ones as YAML-like text.
type Diff struct {
	Before       any
	After        any
	BeforeHeader string
	AfterHeader  string
}

// Failure is an error that also reports what was already changed and any
// return values, so a partial run is truthful.
type Failure struct {
	Msg     string
	Changed bool
	Values  map[string]any
	Err     error // the cause, if any; not printed beyond Msg
}

func (f *Failure) Error() string { return f.Msg }
func (f *Failure) Unwrap() error { return f.Err }

// Failf returns a Failure whose message is formatted like fmt.Sprintf.
func Failf(format string, args ...any) *Failure {
	err := fmt.Errorf(format, args...)
	return &Failure{Msg: err.Error(), Err: errors.Unwrap(err)}
}

// reserved keys are owned by the protocol; module values cannot override them.
var reserved = map[string]bool{"changed": true, "failed": true, "msg": true, "diff": true, "warnings": true, "invocation": true, "exception": true}

func (req *Request) output(res *Result, err error) map[string]any {
	out := map[string]any{}
	if res == nil {
		res = &Result{}
	}
	var failure *Failure
	switch {
	case err == nil:
	case errors.As(err, &failure):
		out["failed"] = true
		res = &Result{Changed: failure.Changed || res.Changed, Msg: err.Error(), Values: mergeValues(res.Values, failure.Values), Warnings: res.Warnings, Diff: res.Diff}
	default:
		out["failed"] = true
		res = &Result{Changed: res.Changed, Msg: err.Error(), Values: res.Values, Warnings: res.Warnings, Diff: res.Diff}
	}
	for k, v := range res.Values {
		if !reserved[k] {
			out[k] = v
		}
	}
	out["changed"] = res.Changed
	if _, failed := out["failed"]; !failed {
		out["failed"] = false
	}
	if res.Msg != "" {
		out["msg"] = res.Msg
	}
	if len(res.Warnings) > 0 {
		out["warnings"] = res.Warnings
	}
	if req != nil && req.Diff && res.Diff != nil {
		d := map[string]any{"before": res.Diff.Before, "after": res.Diff.After}
		if res.Diff.BeforeHeader != "" {
			d["before_header"] = res.Diff.BeforeHeader
		}
		if res.Diff.AfterHeader != "" {
			d["after_header"] = res.Diff.AfterHeader
		}
		out["diff"] = d
	}
	if req != nil {
		out["invocation"] = map[string]any{"module_args": req.invocation}
	}
	return out
}

func mergeValues(a, b map[string]any) map[string]any {
	if len(a) == 0 {
		return b
	}
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// maskSecrets replaces every occurrence of a secret inside any string of the
// value (keys included) with MaskedValue. Longer secrets are replaced first so
// that a secret containing another is masked whole.
func maskSecrets(val any, secrets []string) any {
	if len(secrets) == 0 {
		return val
	}
	sorted := append([]string(nil), secrets...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	return mask(val, sorted)
}

// SecretText is the text by which a secret value is masked: a string
// itself, a number its decimal form (YAML reads password: 123456 as a
// number). Other values are not secrets on their own.
func SecretText(v any) (string, bool) {
	switch v.(type) {
	case string, float64, json.Number, int, int64:
		return fmt.Sprint(v), true
	}
	return "", false
}

func mask(val any, secrets []string) any {
	switch t := val.(type) {
	case string:
		for _, s := range secrets {
			t = strings.ReplaceAll(t, s, MaskedValue)
		}
		return t
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = mask(x, secrets)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[mask(k, secrets).(string)] = mask(x, secrets)
		}
		return out
	}
	// A number whose text is a secret (password: 123456 in YAML) is masked
	// whole, as Ansible does.
	if text, ok := SecretText(val); ok && slices.Contains(secrets, text) {
		return MaskedValue
	}
	return val
}
