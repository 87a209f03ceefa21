package module

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type output map[string]any

func execute(t *testing.T, args string, h Handler) (output, int, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "args")
	if err := os.WriteFile(path, []byte(args), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	code := Execute(context.Background(), "testmod", []string{path}, &buf, testSpec, h)
	raw := buf.String()
	if strings.Count(raw, "\n") != 1 || !strings.HasSuffix(raw, "\n") {
		t.Fatalf("want exactly one line of output, got %q", raw)
	}
	var out output
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("output is not one JSON object: %v: %q", err, raw)
	}
	return out, code, raw
}

func TestExecuteSuccess(t *testing.T) {
	out, code, _ := execute(t, `{"name":"a","_ansible_diff":true,"password":"pw-123"}`, func(ctx context.Context, req *Request) (*Result, error) {
		return &Result{
			Changed:  true,
			Msg:      "done",
			Warnings: []string{"careful"},
			Diff:     &Diff{Before: "x\n", After: "y\n", BeforeHeader: "/etc/f (before)", AfterHeader: "/etc/f (after)"},
			Values:   map[string]any{"path": "/etc/f", "changed": false, "failed": true},
		}, nil
	})
	if code != 0 {
		t.Errorf("exit code %d", code)
	}
	if out["changed"] != true || out["failed"] != false || out["msg"] != "done" || out["path"] != "/etc/f" {
		t.Errorf("result = %v", out)
	}
	diff := out["diff"].(map[string]any)
	if diff["before"] != "x\n" || diff["after"] != "y\n" || diff["before_header"] != "/etc/f (before)" || diff["after_header"] != "/etc/f (after)" {
		t.Errorf("diff = %v", diff)
	}
	if w := out["warnings"].([]any); len(w) != 1 || w[0] != "careful" {
		t.Errorf("warnings = %v", w)
	}
	args := out["invocation"].(map[string]any)["module_args"].(map[string]any)
	if args["password"] != NoLogPlaceholder || args["name"] != "a" || args["count"] != float64(3) {
		t.Errorf("invocation.module_args = %v", args)
	}
}

func TestExecuteDiffOnlyWhenAsked(t *testing.T) {
	out, _, _ := execute(t, `{"name":"a"}`, func(ctx context.Context, req *Request) (*Result, error) {
		return &Result{Diff: &Diff{Before: "a", After: "b"}}, nil
	})
	if _, ok := out["diff"]; ok {
		t.Error("diff printed without _ansible_diff")
	}
	if _, ok := out["msg"]; ok {
		t.Error("empty msg should be omitted")
	}
}

func TestExecuteNilResult(t *testing.T) {
	out, code, _ := execute(t, `{"name":"a"}`, func(ctx context.Context, req *Request) (*Result, error) { return nil, nil })
	if code != 0 || out["changed"] != false || out["failed"] != false {
		t.Errorf("nil result: code %d out %v", code, out)
	}
}

func TestExecuteFailures(t *testing.T) {
	t.Run("plain error", func(t *testing.T) {
		out, code, _ := execute(t, `{"name":"a"}`, func(ctx context.Context, req *Request) (*Result, error) {
			return &Result{Changed: true}, errors.New("mkfs.gfs2 failed")
		})
		if code != 1 || out["failed"] != true || out["msg"] != "mkfs.gfs2 failed" || out["changed"] != true {
			t.Errorf("out = %v", out)
		}
	})
	t.Run("failure with values", func(t *testing.T) {
		out, code, _ := execute(t, `{"name":"a"}`, func(ctx context.Context, req *Request) (*Result, error) {
			return nil, &Failure{Msg: "attached 2 of 4", Changed: true, Values: map[string]any{"attached": []string{"s1", "s2"}}}
		})
		if code != 1 || out["changed"] != true || out["msg"] != "attached 2 of 4" || len(out["attached"].([]any)) != 2 {
			t.Errorf("out = %v", out)
		}
	})
	t.Run("Failf wraps", func(t *testing.T) {
		cause := errors.New("EIO")
		f := Failf("read superblock: %w", cause)
		if !errors.Is(f, cause) || f.Error() != "read superblock: EIO" {
			t.Errorf("Failf: %v", f)
		}
	})
	t.Run("args error changes nothing", func(t *testing.T) {
		called := false
		out, code, _ := execute(t, `{"nme":"a"}`, func(ctx context.Context, req *Request) (*Result, error) {
			called = true
			return nil, nil
		})
		if called || code != 1 || out["changed"] != false || !strings.Contains(out["msg"].(string), "Unsupported parameters for (testmod) module: nme") {
			t.Errorf("called=%v out=%v", called, out)
		}
	})
	t.Run("panic", func(t *testing.T) {
		out, code, raw := execute(t, `{"name":"a","password":"pw-123"}`, func(ctx context.Context, req *Request) (*Result, error) {
			past := len(req.Name) + 1
			return nil, errors.New(req.Name[past:]) // slice bounds out of range
		})
		if code != 1 || out["failed"] != true || !strings.Contains(out["msg"].(string), "internal error in module testmod") {
			t.Errorf("out = %v", out)
		}
		if _, ok := out["exception"].(string); !ok {
			t.Error("the stack should be in exception")
		}
		if strings.Contains(raw, "pw-123") {
			t.Error("secret leaked after a panic")
		}
	})
	t.Run("unencodable result", func(t *testing.T) {
		out, code, _ := execute(t, `{"name":"a"}`, func(ctx context.Context, req *Request) (*Result, error) {
			return &Result{Changed: true, Values: map[string]any{"bad": make(chan int)}}, nil
		})
		if code != 1 || out["failed"] != true || out["changed"] != true || !strings.Contains(out["msg"].(string), "cannot encode") {
			t.Errorf("out = %v", out)
		}
	})
}

func TestExecuteBadInvocation(t *testing.T) {
	noop := func(ctx context.Context, req *Request) (*Result, error) { return nil, nil }
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no args", nil, "run it through Ansible"},
		{"two args", []string{"a", "b"}, "run it through Ansible"},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope")}, "cannot read module arguments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			code := Execute(context.Background(), "testmod", c.args, &buf, testSpec, noop)
			var out output
			if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
				t.Fatalf("not JSON: %q", buf.String())
			}
			if code != 1 || out["failed"] != true || !strings.Contains(out["msg"].(string), c.want) {
				t.Errorf("code %d out %v", code, out)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	type attachment struct {
		Token string `json:"token"`
	}
	_, code, raw := execute(t, `{"name":"a","password":"hunter22","auth":{"secret":"tok-abc"}}`, func(ctx context.Context, req *Request) (*Result, error) {
		req.AddSecret("clouds-yaml-pw")
		req.AddSecret("")
		return &Result{
			Msg:      "login with hunter22 failed",
			Warnings: []string{"token tok-abc expired"},
			Values: map[string]any{
				"nested":        []any{map[string]any{"k": "clouds-yaml-pw"}},
				"struct":        attachment{Token: "tok-abc"},
				"key-hunter22":  1,
				"partial-match": "hunter2 is not the secret",
			},
		}, errors.New("auth failed for password hunter22 (clouds-yaml-pw)")
	})
	if code != 1 {
		t.Errorf("exit code %d", code)
	}
	for _, s := range []string{"hunter22", "tok-abc", "clouds-yaml-pw"} {
		if strings.Contains(raw, s) {
			t.Errorf("secret %q printed: %s", s, raw)
		}
	}
	if !strings.Contains(raw, MaskedValue) || !strings.Contains(raw, "hunter2 is not the secret") {
		t.Errorf("masking too broad or absent: %s", raw)
	}
}

func TestMaskLongestFirst(t *testing.T) {
	got := maskSecrets("abc abcdef", []string{"abc", "abcdef"})
	if got != MaskedValue+" "+MaskedValue {
		t.Errorf("got %q", got)
	}
}

func TestFailureMergesResultValues(t *testing.T) {
	out, _, _ := execute(t, `{"name":"a"}`, func(ctx context.Context, req *Request) (*Result, error) {
		return &Result{Values: map[string]any{"a": 1, "b": 1}, Warnings: []string{"w"}},
			&Failure{Msg: "half", Values: map[string]any{"b": 2}}
	})
	if out["a"] != float64(1) || out["b"] != float64(2) || out["failed"] != true || len(out["warnings"].([]any)) != 1 {
		t.Errorf("out = %v", out)
	}
}

// A binary that serves several modules runs the one the args name, and
// refuses args that name none of them, with nothing run.
func TestExecuteModulesPicksByName(t *testing.T) {
	ran := ""
	handler := func(name string) Handler {
		return func(ctx context.Context, req *Request) (*Result, error) {
			ran = name
			return &Result{}, nil
		}
	}
	modules := []Module{
		{Name: "gfs2_fs", Spec: Spec{}, Handler: handler("gfs2_fs")},
		{Name: "ocfs2_fs", Spec: Spec{}, Handler: handler("ocfs2_fs")},
	}
	for _, tc := range []struct{ args, ran, failure string }{
		{`{"_ansible_module_name": "cinder.multiattach.ocfs2_fs"}`, "ocfs2_fs", ""},
		{`{"_ansible_module_name": "gfs2_fs"}`, "gfs2_fs", ""},
		{`{"_ansible_module_name": "cinder.multiattach.cluster_conf"}`, "", `serves the module(s) gfs2_fs, ocfs2_fs, not "cinder.multiattach.cluster_conf"`},
		{`{}`, "", `serves the module(s) gfs2_fs, ocfs2_fs, not ""`},
	} {
		ran = ""
		path := filepath.Join(t.TempDir(), "args")
		if err := os.WriteFile(path, []byte(tc.args), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		code := ExecuteModules(context.Background(), []string{path}, &out, modules...)
		if ran != tc.ran {
			t.Errorf("%s: ran %q, want %q", tc.args, ran, tc.ran)
		}
		var res struct{ Msg string }
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%s: output %s: %v", tc.args, out.String(), err)
		}
		if (code != 0) != (tc.failure != "") || !strings.Contains(res.Msg, tc.failure) {
			t.Errorf("%s: exit %d, msg %q; want failure %q", tc.args, code, res.Msg, tc.failure)
		}
	}
}
