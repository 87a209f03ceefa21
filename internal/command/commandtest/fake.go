// Package commandtest provides an ordered fake command.Runner: a test lists
// the commands it expects, in order, with what each one prints and how it
// exits. Any other command, or a missing one, fails the test.
package commandtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
)

// Call is one expected command and its scripted outcome.
type Call struct {
	Argv     []string // name and arguments, compared exactly
	Stdout   string
	Stderr   string
	ExitCode int   // command.NotStarted with Err for a command that cannot start
	Err      error // cause when ExitCode is command.NotStarted
	// Effect runs before the outcome is returned, e.g. to write the bytes a
	// real mkfs would have written.
	Effect func()
}

// Expect starts a Call for the command line argv.
func Expect(argv ...string) Call { return Call{Argv: argv} }

// Prints sets the command's stdout.
func (c Call) Prints(stdout string) Call { c.Stdout = stdout; return c }

// Fails makes the command exit with code and print stderr.
func (c Call) Fails(code int, stderr string) Call { c.ExitCode = code; c.Stderr = stderr; return c }

// Missing makes the command impossible to start, as when it is not installed.
func (c Call) Missing() Call {
	c.ExitCode = command.NotStarted
	c.Err = fmt.Errorf("exec: %q: executable file not found in $PATH", c.Argv[0])
	return c
}

// Does runs f when the command is called.
func (c Call) Does(f func()) Call { c.Effect = f; return c }

// Runner is the fake. It is safe for use from one goroutine at a time.
type Runner struct {
	t     testing.TB
	mu    sync.Mutex
	calls []Call
	next  int
	// Seen lists every command line run, for messages.
	Seen [][]string
}

// New returns a Runner expecting calls in order. At the end of the test it
// reports any expected call that was not made.
func New(t testing.TB, calls ...Call) *Runner {
	t.Helper()
	r := &Runner{t: t, calls: calls}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.calls[r.next:] {
			t.Errorf("expected command not run: %s", command.Line(c.Argv[0], c.Argv[1:]...))
		}
	})
	return r
}

// Run implements command.Runner.
func (r *Runner) Run(ctx context.Context, name string, args ...string) (command.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	argv := append([]string{name}, args...)
	r.Seen = append(r.Seen, argv)
	if err := ctx.Err(); err != nil {
		return command.Result{ExitCode: command.NotStarted},
			&command.Error{Command: command.Line(name, args...), ExitCode: command.NotStarted, Err: err}
	}
	if r.next >= len(r.calls) {
		r.t.Errorf("unexpected command: %s", command.Line(name, args...))
		return command.Result{ExitCode: command.NotStarted},
			&command.Error{Command: command.Line(name, args...), ExitCode: command.NotStarted, Err: fmt.Errorf("not scripted")}
	}
	c := r.calls[r.next]
	if !slices.Equal(c.Argv, argv) {
		r.t.Errorf("command %d:\n got  %s\n want %s", r.next+1, command.Line(name, args...), command.Line(c.Argv[0], c.Argv[1:]...))
		return command.Result{ExitCode: command.NotStarted},
			&command.Error{Command: command.Line(name, args...), ExitCode: command.NotStarted, Err: fmt.Errorf("not the scripted command")}
	}
	r.next++
	if c.Effect != nil {
		c.Effect()
	}
	if c.ExitCode == command.NotStarted {
		return command.Result{ExitCode: command.NotStarted},
			&command.Error{Command: command.Line(name, args...), ExitCode: command.NotStarted, Err: c.Err}
	}
	return command.Outcome(name, args, c.Stdout, c.Stderr, c.ExitCode)
}

// Done reports whether every expected call was made.
func (r *Runner) Done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next == len(r.calls)
}
