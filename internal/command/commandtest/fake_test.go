package commandtest

import (
	"context"
	"errors"
	"testing"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
)

func TestScriptedOrder(t *testing.T) {
	effect := false
	r := New(t,
		Expect("blkid", "-p", "/dev/x").Fails(2, ""),
		Expect("mkfs.gfs2", "-O", "/dev/x").Prints("done\n").Does(func() { effect = true }),
		Expect("gfs2_jadd", "-j", "1", "/mnt").Missing(),
	)
	ctx := context.Background()
	if _, err := r.Run(ctx, "blkid", "-p", "/dev/x"); func() bool { c, ok := command.ExitCode(err); return !ok || c != 2 }() {
		t.Errorf("blkid: want exit 2, got %v", err)
	}
	res, err := r.Run(ctx, "mkfs.gfs2", "-O", "/dev/x")
	if err != nil || res.Stdout != "done\n" || !effect {
		t.Errorf("mkfs: %+v %v effect=%v", res, err, effect)
	}
	_, err = r.Run(ctx, "gfs2_jadd", "-j", "1", "/mnt")
	var e *command.Error
	if !errors.As(err, &e) || e.ExitCode != command.NotStarted {
		t.Errorf("missing tool: %v", err)
	}
	if !r.Done() {
		t.Error("all calls were made")
	}
}

// recorder captures the fake's complaints instead of failing this test.
type recorder struct {
	testing.TB
	errors []string
	clean  []func()
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.errors = append(r.errors, f) }
func (r *recorder) Cleanup(f func())          { r.clean = append(r.clean, f) }

func TestMismatchAndLeftovers(t *testing.T) {
	rec := &recorder{}
	r := New(rec, Expect("a"), Expect("b"))
	if _, err := r.Run(context.Background(), "z"); err == nil {
		t.Error("an unscripted command must fail")
	}
	for _, f := range rec.clean {
		f()
	}
	// one error for the wrong command, two for the calls never made
	if len(rec.errors) != 3 {
		t.Errorf("want 3 complaints, got %d: %v", len(rec.errors), rec.errors)
	}
}

func TestUnexpectedExtraCall(t *testing.T) {
	rec := &recorder{}
	r := New(rec)
	if _, err := r.Run(context.Background(), "mkfs.ocfs2", "/dev/x"); err == nil {
		t.Error("want an error")
	}
	if len(rec.errors) != 1 {
		t.Errorf("complaints: %v", rec.errors)
	}
}

func TestCancelledContext(t *testing.T) {
	r := New(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Run(ctx, "blkid"); !errors.Is(err, context.Canceled) {
		t.Errorf("want context.Canceled, got %v", err)
	}
}
