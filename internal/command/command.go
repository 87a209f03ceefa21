// Package command is the one way the modules run external programs. A
// Runner is an interface so that tests script the exact command order and
// every exit-code branch (package commandtest); errors always carry the
// command line, the exit code and stderr, so a failing mkfs explains itself.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Result is what a finished command printed and how it exited.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Runner runs one external command to completion. A command that cannot be
// started or that exits non-zero returns an *Error (with the Result that was
// collected); callers that branch on an exit code use ExitCode.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (Result, error)
}

// NotStarted is the ExitCode of an *Error for a command that never ran to an
// exit status (not found, not executable, killed by a signal or the context).
const NotStarted = -1

// Error describes a command that failed.
type Error struct {
	Command  string // the command line, shell-quoted where needed
	ExitCode int    // NotStarted when there is no exit status
	Stderr   string // trimmed; empty when the command printed nothing there
	Err      error  // the cause reported by os/exec, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Command)
	if e.ExitCode == NotStarted {
		fmt.Fprintf(&b, ": %v", e.Err)
	} else {
		fmt.Fprintf(&b, ": exit code %d", e.ExitCode)
	}
	if e.Stderr != "" {
		fmt.Fprintf(&b, ": %s", e.Stderr)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode returns the exit code of a failed command, and false when err is
// not a command failure with an exit status.
func ExitCode(err error) (int, bool) {
	var e *Error
	if errors.As(err, &e) && e.ExitCode != NotStarted {
		return e.ExitCode, true
	}
	return 0, false
}

// Line renders a command line for messages, quoting arguments that hold
// spaces or shell metacharacters.
func Line(name string, args ...string) string {
	parts := make([]string, 0, 1+len(args))
	for _, a := range append([]string{name}, args...) {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?()[]{}!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// Outcome builds what a Runner returns for a command that exited with code:
// the Result, and an *Error when code is not zero. Fakes use it so that they
// fail exactly as the real runner does.
func Outcome(name string, args []string, stdout, stderr string, code int) (Result, error) {
	res := Result{Stdout: stdout, Stderr: stderr, ExitCode: code}
	if code == 0 {
		return res, nil
	}
	return res, &Error{Command: Line(name, args...), ExitCode: code, Stderr: strings.TrimSpace(stderr),
		Err: fmt.Errorf("exit status %d", code)}
}

// Exec runs commands with os/exec. Stdin is empty unless Stdin is set, so a
// tool that would prompt (mkfs.ocfs2 over an OCFS2 volume, mkfs.gfs2 without
// -O) reads EOF and aborts instead of hanging. The locale is C so that output
// parses the same everywhere.
type Exec struct {
	// Stdin is fed to the command; the modules leave it empty.
	Stdin string
}

// Run implements Runner.
func (e Exec) Run(ctx context.Context, name string, args ...string) (Result, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if e.Stdin != "" {
		cmd.Stdin = strings.NewReader(e.Stdin)
	} // else /dev/null
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return Result{Stdout: stdout.String(), Stderr: stderr.String()}, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() && ctx.Err() == nil {
		return Outcome(name, args, stdout.String(), stderr.String(), exitErr.ExitCode())
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: NotStarted},
		&Error{Command: Line(name, args...), ExitCode: NotStarted, Stderr: strings.TrimSpace(stderr.String()), Err: err}
}
