package fence

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const uuid1 = "0b6a4f6e-2f1c-4c47-9a57-5d6c1b2a3e4f"

func TestParseStdin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		values  map[string]string
		unknown []string
	}{
		{
			name: "what dlm_controld writes to fence node 1",
			in: "cloud=fence\nclouds_yaml=/etc/cinder-multiattach/fence-clouds.yaml\nnode=1\nplug=" + uuid1 +
				"\nfail_time=1700000000\n",
			values: map[string]string{"cloud": "fence", "clouds_yaml": "/etc/cinder-multiattach/fence-clouds.yaml",
				"node": "1", "plug": uuid1},
		},
		{
			name:   "unfencing: action=on last wins over the device line's action",
			in:     "action=off\ncloud=fence\nnode=2\nport=" + uuid1 + "\naction=on\n",
			values: map[string]string{"action": "on", "cloud": "fence", "node": "2", "plug": uuid1},
		},
		{
			name:   "comments, blank lines, spaces, quotes, dashes and case",
			in:     "# fence_nova\n\n   \n  Clouds-YAML = \"/etc/fence clouds.yaml\"  \r\nTIMEOUT=60\nverbose\n",
			values: map[string]string{"clouds_yaml": "/etc/fence clouds.yaml", "timeout": "60", "verbose": ""},
		},
		{
			name:    "unknown keys are named once, known unused ones are not",
			in:      "password=hunter2\nipaddr=10.0.0.1\npassword=again\nnodename=n1\nagent=fence_nova\nuuid=" + uuid1 + "\n",
			values:  map[string]string{"plug": uuid1},
			unknown: []string{"password", "ipaddr"},
		},
		{
			name:   "a value may contain =",
			in:     "cloud=a=b\n",
			values: map[string]string{"cloud": "a=b"},
		},
		{name: "empty", in: "", values: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStdin(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Values, tc.values) || !reflect.DeepEqual(got.Unknown, tc.unknown) {
				t.Errorf("got %v unknown %q\nwant %v unknown %q", got.Values, got.Unknown, tc.values, tc.unknown)
			}
		})
	}
}

func TestParseStdinTooLong(t *testing.T) {
	if _, err := ParseStdin(strings.NewReader("cloud=" + strings.Repeat("x", maxInput))); err == nil {
		t.Error("a line longer than the input bound was accepted")
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		values map[string]string
		help   bool
		err    string
	}{
		{name: "short", args: []string{"-o", "status", "-n", uuid1},
			values: map[string]string{"action": "status", "plug": uuid1}},
		{name: "long with =", args: []string{"--action=off", "--plug=" + uuid1, "--cloud=fence", "--clouds-yaml=/etc/c.yaml", "--timeout=30", "--node=3"},
			values: map[string]string{"action": "off", "plug": uuid1, "cloud": "fence", "clouds_yaml": "/etc/c.yaml", "timeout": "30", "node": "3"}},
		{name: "aliases of plug", args: []string{"--port", uuid1}, values: map[string]string{"plug": uuid1}},
		{name: "uuid", args: []string{"--uuid", uuid1}, values: map[string]string{"plug": uuid1}},
		{name: "verbose", args: []string{"-v", "-o", "list"}, values: map[string]string{"verbose": "true", "action": "list"}},
		{name: "help", args: []string{"--help"}, values: map[string]string{}, help: true},
		{name: "h", args: []string{"-h"}, values: map[string]string{}, help: true},
		{name: "unknown option", args: []string{"--password", "x"}, err: "flag provided but not defined: -password"},
		{name: "missing value", args: []string{"-o"}, err: "flag needs an argument: -o"},
		{name: "positional argument", args: []string{"reboot"}, err: `unexpected argument "reboot"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, help, err := ParseArgs(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Values, tc.values) || help != tc.help {
				t.Errorf("got %v help %v, want %v help %v", got.Values, help, tc.values, tc.help)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]string
		want   Options
		err    []string // every problem is reported
	}{
		{name: "dlm's fencing request: reboot by default",
			values: map[string]string{"plug": uuid1, "node": "1", "cloud": "fence", "clouds_yaml": "/etc/f.yaml"},
			want:   Options{Action: Reboot, Plug: uuid1, Node: "1", Cloud: "fence", CloudsYAML: "/etc/f.yaml", Timeout: DefaultTimeout}},
		{name: "action in any case, timeout, verbose",
			values: map[string]string{"action": "OFF", "plug": uuid1, "timeout": "60", "verbose": "yes"},
			want:   Options{Action: Off, Plug: uuid1, Timeout: time.Minute, Verbose: true}},
		{name: "list needs no plug", values: map[string]string{"action": "list"},
			want: Options{Action: List, Timeout: DefaultTimeout}},
		{name: "OCF's meta-data", values: map[string]string{"action": "meta-data"},
			want: Options{Action: Metadata, Timeout: DefaultTimeout}},
		{name: "missing plug", values: map[string]string{"action": "reboot"},
			err: []string{"action reboot needs plug"}},
		{name: "status needs a plug too", values: map[string]string{"action": "status", "plug": " "},
			err: []string{"action status needs plug"}},
		{name: "a name is not a plug", values: map[string]string{"plug": "node1"},
			err: []string{`plug must be the Nova server's UUID, got "node1"`}},
		{name: "bad action", values: map[string]string{"action": "cycle", "plug": uuid1},
			err: []string{`action must be one of on, off, reboot, status, list, list-status, monitor, metadata, validate-all; got "cycle"`}},
		{name: "timeout not a number", values: map[string]string{"plug": uuid1, "timeout": "3m"},
			err: []string{`timeout must be a whole number of seconds from 1 to 3600, got "3m"`}},
		{name: "timeout zero", values: map[string]string{"plug": uuid1, "timeout": "0"}, err: []string{`got "0"`}},
		{name: "timeout too long", values: map[string]string{"plug": uuid1, "timeout": "3601"}, err: []string{`got "3601"`}},
		{name: "bad verbose", values: map[string]string{"plug": uuid1, "verbose": "very"}, err: []string{`verbose must be yes or no`}},
		{name: "delay", values: map[string]string{"plug": uuid1, "delay": "15"},
			want: Options{Action: Reboot, Plug: uuid1, Timeout: DefaultTimeout, Delay: 15 * time.Second}},
		{name: "delay negative", values: map[string]string{"plug": uuid1, "delay": "-1"},
			err: []string{`delay must be a whole number of seconds from 0 to 600, got "-1"`}},
		{name: "delay too long", values: map[string]string{"plug": uuid1, "delay": "601"}, err: []string{`got "601"`}},
		{name: "all problems at once", values: map[string]string{"action": "kill", "timeout": "-1", "plug": "x"},
			err: []string{"action must be one of", "plug must be", "timeout must be"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewOptions(Input{Values: tc.values})
			if len(tc.err) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", tc.err)
				}
				for _, want := range tc.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestHelpShowsTheSetup(t *testing.T) {
	var b strings.Builder
	usage(&b)
	for _, want := range []string{
		"device  nova /usr/local/sbin/fence_nova cloud=fence clouds_yaml=/etc/cinder-multiattach/fence-clouds.yaml",
		"connect nova node=1 plug=",
		`"path": "/v2.1/servers/*/os-instance-actions/*"`,
		"-n, --plug=[UUID]",
		"status  0 on (ACTIVE), 2 off (SHUTOFF), 1 anything else",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	b.Reset()
	metadata(&b)
	for _, want := range []string{`<parameter name="plug"`, `<action name="reboot" />`, `default="180"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metadata lacks %q:\n%s", want, b.String())
		}
	}
}
