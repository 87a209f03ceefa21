package fence

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Action is what the agent is asked to do, in fence-agents' words.
type Action string

// The actions.
const (
	Reboot      Action = "reboot" // the default, and what dlm asks for
	Off         Action = "off"
	On          Action = "on" // what dlm asks for to unfence
	Status      Action = "status"
	Monitor     Action = "monitor"
	List        Action = "list"
	ListStatus  Action = "list-status"
	Metadata    Action = "metadata"
	ValidateAll Action = "validate-all"
)

var actions = []Action{On, Off, Reboot, Status, List, ListStatus, Monitor, Metadata, ValidateAll}

// needsPlug reports the actions on one server.
func (a Action) needsPlug() bool { return a == Reboot || a == Off || a == On || a == Status }

// request is the Nova request of a power action, for messages.
func (a Action) request() string {
	switch a {
	case Reboot:
		return "hard reboot"
	case Off:
		return "stop (os-stop)"
	case On:
		return "start (os-start)"
	}
	return string(a)
}

// Timeout and delay bounds.
const (
	DefaultTimeout = 180 * time.Second
	maxTimeout     = 3600 // seconds
	maxDelay       = 600  // seconds
)

// Options is one validated invocation.
type Options struct {
	Action Action
	// Plug is the Nova server's UUID.
	Plug string
	// Cloud is the clouds.yaml entry; "" lets OS_CLOUD (or a clouds.yaml
	// with one entry) choose.
	Cloud string
	// CloudsYAML is the clouds.yaml file to read; "" is the standard
	// search (OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/,
	// /etc/openstack/).
	CloudsYAML string
	// Timeout bounds the whole run after the delay, every HTTP request
	// included.
	Timeout time.Duration
	// Delay is waited before a fencing action (reboot, off), as
	// fence-agents' delay: in a two-node cluster that splits, the node
	// without a delay fences first and the other is gone before its delay
	// ends, so the two never fence each other.
	Delay time.Duration
	// Node is dlm's node ID, for messages.
	Node    string
	Verbose bool
}

// Input is the raw key=value options from stdin or the command line, keys
// in their canonical spelling, a later value replacing an earlier one.
type Input struct {
	Values map[string]string
	// Unknown lists the keys ignored because the agent does not know them.
	Unknown []string
}

// aliases maps every accepted spelling (after "-" became "_") to its
// canonical key: fence-agents call the plug "port" on stdin (dlm.conf(5)'s
// examples do too) and fence_openstack took "uuid".
var aliases = map[string]string{
	"action": "action", "plug": "plug", "port": "plug", "uuid": "plug",
	"cloud": "cloud", "clouds_yaml": "clouds_yaml", "timeout": "timeout", "delay": "delay",
	"node": "node", "verbose": "verbose",
}

// quiet lists keys known and not used, so not warned about: dlm's
// fail_time, pacemaker's nodename.
var quiet = map[string]bool{"fail_time": true, "nodename": true, "agent": true}

func canonical(key string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(key)), "-", "_")
}

// maxInput bounds what is read from stdin (dlm writes a few hundred bytes).
const maxInput = 1 << 20

// ParseStdin reads fence-agents' stdin format: one key=value a line, blank
// lines and lines starting with # skipped, a value in double quotes
// unquoted, a key without "=" given an empty value.
func ParseStdin(r io.Reader) (Input, error) {
	in := Input{Values: map[string]string{}}
	sc := bufio.NewScanner(io.LimitReader(r, maxInput))
	sc.Buffer(make([]byte, 64*1024), maxInput)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, _ := strings.Cut(line, "=")
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		in.set(canonical(key), value)
	}
	if err := sc.Err(); err != nil {
		return in, fmt.Errorf("reading options from stdin: %w", err)
	}
	return in, nil
}

func (in *Input) set(key, value string) {
	name, ok := aliases[key]
	switch {
	case ok:
		in.Values[name] = value
	case !quiet[key] && !slices.Contains(in.Unknown, key):
		in.Unknown = append(in.Unknown, key)
	}
}

// ParseArgs reads the command line: -o/--action, -n/--plug (also --port
// and --uuid), --cloud, --clouds-yaml, --timeout, --node, -v/--verbose and
// -h/--help, as "--key value" or "--key=value".
func ParseArgs(args []string) (in Input, help bool, err error) {
	in = Input{Values: map[string]string{}}
	fs := flag.NewFlagSet("fence_nova", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := map[string]*string{}
	keys := map[string]string{} // flag name → canonical key
	var verbose bool
	for _, p := range parameters {
		for _, name := range p.flags {
			keys[name] = p.key
			if p.boolean {
				fs.BoolVar(&verbose, name, false, "")
			} else {
				values[name] = fs.String(name, "", "")
			}
		}
	}
	fs.BoolVar(&help, "help", false, "")
	fs.BoolVar(&help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		return in, false, fmt.Errorf("%s (fence_nova --help lists the options)", strings.TrimPrefix(err.Error(), "flag: "))
	}
	if fs.NArg() > 0 {
		return in, false, fmt.Errorf("unexpected argument %q (fence_nova --help lists the options)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		switch {
		case f.Name == "help" || f.Name == "h":
		case values[f.Name] == nil:
			in.Values[keys[f.Name]] = strconv.FormatBool(verbose)
		default:
			in.Values[keys[f.Name]] = *values[f.Name]
		}
	})
	return in, help, nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// NewOptions checks the raw options; every problem is reported at once.
func NewOptions(in Input) (Options, error) {
	v := in.Values
	o := Options{
		Action:     Action(strings.ToLower(strings.TrimSpace(v["action"]))),
		Plug:       strings.TrimSpace(v["plug"]),
		Cloud:      strings.TrimSpace(v["cloud"]),
		CloudsYAML: strings.TrimSpace(v["clouds_yaml"]),
		Timeout:    DefaultTimeout,
		Node:       strings.TrimSpace(v["node"]),
	}
	var problems []string
	switch o.Action {
	case "":
		o.Action = Reboot
	case "meta-data": // OCF's spelling, as fence-agents accept it
		o.Action = Metadata
	}
	if !slices.Contains(actions, o.Action) {
		names := make([]string, len(actions))
		for i, a := range actions {
			names[i] = string(a)
		}
		problems = append(problems, fmt.Sprintf("action must be one of %s; got %q", strings.Join(names, ", "), o.Action))
	}
	switch {
	case o.Plug == "" && o.Action.needsPlug():
		problems = append(problems, fmt.Sprintf("action %s needs plug: the Nova server's UUID (plug=UUID on stdin, -n UUID on the command line)", o.Action))
	case o.Plug != "" && !uuidPattern.MatchString(o.Plug):
		problems = append(problems, fmt.Sprintf("plug must be the Nova server's UUID, got %q "+
			"(openstack server show NAME -f value -c id prints it)", o.Plug))
	}
	if t, ok := v["timeout"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil || n < 1 || n > maxTimeout {
			problems = append(problems, fmt.Sprintf("timeout must be a whole number of seconds from 1 to %d, got %q", maxTimeout, t))
		} else {
			o.Timeout = time.Duration(n) * time.Second
		}
	}
	if d, ok := v["delay"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(d))
		if err != nil || n < 0 || n > maxDelay {
			problems = append(problems, fmt.Sprintf("delay must be a whole number of seconds from 0 to %d, got %q", maxDelay, d))
		} else {
			o.Delay = time.Duration(n) * time.Second
		}
	}
	if b, ok := v["verbose"]; ok {
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "", "1", "yes", "on", "true":
			o.Verbose = true
		case "0", "no", "off", "false":
		default:
			problems = append(problems, fmt.Sprintf("verbose must be yes or no, got %q", b))
		}
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}
