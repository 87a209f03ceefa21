// Package module implements the Ansible binary-module protocol: it reads the
// args file Ansible writes (a flat JSON object of options and _ansible_* keys),
// validates the options against a typed spec with Ansible's conversions, and
// prints exactly one JSON result object.
package module

import "sort"

// Kind is the type of an option, named as in Ansible's argument_spec.
type Kind string

// Option kinds. The zero Kind means Str.
const (
	Str   Kind = "str"
	Int   Kind = "int"
	Float Kind = "float"
	Bool  Kind = "bool"
	Path  Kind = "path"
	List  Kind = "list"
	Dict  Kind = "dict"
	Raw   Kind = "raw"
)

// Option describes one module option.
type Option struct {
	Type     Kind
	Required bool
	Default  any
	// Choices are compared with the option's value after conversion; for a
	// list the check applies to every element.
	Choices  []any
	Aliases  []string
	Elements Kind // element kind of a List option
	// Options is the spec of the dict itself (Dict) or of every element
	// (List with Elements Dict).
	Options Spec
	NoLog   bool
}

// Spec maps option names to their description.
type Spec map[string]Option

func (s Spec) names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (o Option) kind() Kind {
	if o.Type == "" {
		return Str
	}
	return o.Type
}
