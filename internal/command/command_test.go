package command

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestExecSuccess(t *testing.T) {
	res, err := Exec{}.Run(context.Background(), "sh", "-c", `printf out; printf err >&2; printf "$LC_ALL"`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "outC" || res.Stderr != "err" || res.ExitCode != 0 {
		t.Errorf("result = %+v", res)
	}
}

func TestExecStdinIsEmpty(t *testing.T) {
	// A tool that prompts must read EOF at once, not wait for a terminal.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Exec{}.Run(ctx, "sh", "-c", `if read answer; then echo "read $answer"; else echo eof; fi`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(res.Stdout) != "eof" {
		t.Errorf("stdin was not empty: %q", res.Stdout)
	}
}

func TestExecStdinGiven(t *testing.T) {
	res, err := Exec{Stdin: "line one\nline two\n"}.Run(context.Background(), "sh", "-c", `read a; read b; echo "$b/$a"`)
	if err != nil || strings.TrimSpace(res.Stdout) != "line two/line one" {
		t.Errorf("%+v %v", res, err)
	}
}

func TestExecExitCode(t *testing.T) {
	res, err := Exec{}.Run(context.Background(), "sh", "-c", "echo partial; echo 'no such cluster' >&2; exit 3", "arg with space")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %T %v", err, err)
	}
	if e.ExitCode != 3 || res.ExitCode != 3 || e.Stderr != "no such cluster" || res.Stdout != "partial\n" {
		t.Errorf("error = %+v, result = %+v", e, res)
	}
	want := `sh -c 'echo partial; echo '\''no such cluster'\'' >&2; exit 3' 'arg with space': exit code 3: no such cluster`
	if err.Error() != want {
		t.Errorf("message:\n got  %s\n want %s", err.Error(), want)
	}
	if code, ok := ExitCode(err); !ok || code != 3 {
		t.Errorf("ExitCode = %d, %v", code, ok)
	}
}

func TestExecNotFound(t *testing.T) {
	_, err := Exec{}.Run(context.Background(), "no-such-tool-xyz", "-a")
	var e *Error
	if !errors.As(err, &e) || e.ExitCode != NotStarted {
		t.Fatalf("want NotStarted *Error, got %v", err)
	}
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("cause lost: %v", err)
	}
	if _, ok := ExitCode(err); ok {
		t.Error("a command that never ran has no exit code")
	}
	if !strings.HasPrefix(err.Error(), "no-such-tool-xyz -a: ") {
		t.Errorf("message = %s", err)
	}
}

func TestExecContextDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Exec{}.Run(ctx, "sleep", "30")
	if time.Since(start) > 10*time.Second {
		t.Fatal("the deadline did not stop the command")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want a deadline error, got %v", err)
	}
	if _, ok := ExitCode(err); ok {
		t.Error("a killed command has no exit code to branch on")
	}
}

func TestLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"mkfs.gfs2", "-O", "-t", "cl:fs", "/dev/vdb"}, "mkfs.gfs2 -O -t cl:fs /dev/vdb"},
		{[]string{"tool", ""}, "tool ''"},
		{[]string{"tool", "it's"}, `tool 'it'\''s'`},
	} {
		if got := Line(c.args[0], c.args[1:]...); got != c.want {
			t.Errorf("Line(%q) = %s, want %s", c.args, got, c.want)
		}
	}
}

func TestOutcome(t *testing.T) {
	res, err := Outcome("blkid", []string{"-p", "x"}, "", "\n", 2)
	if res.ExitCode != 2 || err == nil || err.Error() != "blkid -p x: exit code 2" {
		t.Errorf("res %+v err %v", res, err)
	}
	if _, err := Outcome("true", nil, "ok", "", 0); err != nil {
		t.Errorf("exit 0 is not an error: %v", err)
	}
}
