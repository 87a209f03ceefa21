package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
)

// run runs a command through the project's runner and returns its stdout;
// the error carries the command line, exit code and stderr. stdin, when not
// empty, is fed to the command.
func run(ctx context.Context, stdin string, name string, args ...string) ([]byte, error) {
	res, err := command.Exec{Stdin: stdin}.Run(ctx, name, args...)
	return []byte(res.Stdout), err
}

// runLogged runs a long command with its output in logPath; on failure the
// error carries the log's last lines.
func runLogged(ctx context.Context, logPath string, env []string, name string, args ...string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", logPath, err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Interrupted, mmdebstrap must still unmount what it mounted.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("%s failed: %w (log %s):\n%s", name, err, logPath, tail(string(out), 30))
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
