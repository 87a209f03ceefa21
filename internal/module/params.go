package module

import (
	"encoding/json"
	"fmt"
)

// Params holds validated option values: string, int, float64, bool, []any,
// map[string]any, or nil for an option that was not given and has no default.
type Params map[string]any

// IsSet reports whether the option has a value (given or defaulted).
func (p Params) IsSet(name string) bool { return p[name] != nil }

// String returns a str or path option ("" when unset).
func (p Params) String(name string) string {
	s, _ := p[name].(string)
	return s
}

// Int returns an int option (0 when unset).
func (p Params) Int(name string) int {
	n, _ := p[name].(int)
	return n
}

// Float returns a float option (0 when unset).
func (p Params) Float(name string) float64 {
	f, _ := p[name].(float64)
	return f
}

// Bool returns a bool option (false when unset).
func (p Params) Bool(name string) bool {
	b, _ := p[name].(bool)
	return b
}

// Strings returns a list option whose elements are strings.
func (p Params) Strings(name string) []string {
	items, _ := p[name].([]any)
	out := make([]string, 0, len(items))
	for _, x := range items {
		if s, ok := x.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

// Dict returns a dict option (nil when unset).
func (p Params) Dict(name string) Params {
	m, _ := p[name].(map[string]any)
	if m == nil {
		return nil
	}
	return Params(m)
}

// Dicts returns a list option whose elements are dicts.
func (p Params) Dicts(name string) []Params {
	items, _ := p[name].([]any)
	out := make([]Params, 0, len(items))
	for _, x := range items {
		if m, ok := x.(map[string]any); ok {
			out = append(out, Params(m))
		}
	}
	return out
}

// Decode stores the parameters into the struct v through their JSON form,
// so that fields are matched by their json tags.
func (p Params) Decode(v any) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode parameters: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode parameters: %w", err)
	}
	return nil
}
