package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/image"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
)

// RunOn runs a shell command on node over SSH and returns its stdout.
func (l *Lab) RunOn(ctx context.Context, st *State, n Node, command string) ([]byte, error) {
	return l.RunOnWithInput(ctx, st, n, command, "")
}

// RunOnWithInput is RunOn with stdin for the remote command.
func (l *Lab) RunOnWithInput(ctx context.Context, st *State, n Node, command, stdin string) ([]byte, error) {
	out, err := vm.SSH(ctx, image.Image{Dir: st.Image}.Key(), st.SSHPort(n), command, stdin)
	if err != nil {
		return out, fmt.Errorf("on %s: %w", n.Name, err)
	}
	return out, nil
}

// WaitSSH waits until every node answers SSH, showing progress. On timeout,
// or if a VM dies, the error carries the end of the console of each node
// that is not up.
func (l *Lab) WaitSSH(ctx context.Context, st *State, nodes []Node, timeout time.Duration) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	ready := map[string]time.Duration{}
	dead := map[string]bool{}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func(n Node) {
			defer wg.Done()
			for ctx.Err() == nil {
				if !l.Running(n) {
					mu.Lock()
					dead[n.Name] = true
					mu.Unlock()
					return
				}
				if vm.SSHReady(ctx, image.Image{Dir: st.Image}.Key(), st.SSHPort(n)) {
					mu.Lock()
					ready[n.Name] = time.Since(t0)
					mu.Unlock()
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}(n)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tty := isTerminal(l.Out)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastPrint := time.Now()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		case <-tick.C:
		}
		mu.Lock()
		line := progressLine(nodes, ready, dead, time.Since(t0))
		mu.Unlock()
		switch {
		case tty:
			fmt.Fprintf(l.Out, "\r\033[K%s", line)
			if finished {
				fmt.Fprintln(l.Out)
			}
		case finished || time.Since(lastPrint) >= 15*time.Second:
			fmt.Fprintln(l.Out, line)
			lastPrint = time.Now()
		}
	}
	var missing []string
	for _, n := range nodes {
		if _, ok := ready[n.Name]; !ok {
			missing = append(missing, n.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var b strings.Builder
	for _, name := range missing {
		n, _ := st.Node(name)
		why := fmt.Sprintf("no SSH after %.0f s", time.Since(t0).Seconds())
		if dead[name] {
			why = "its qemu process is gone"
		}
		fmt.Fprintf(&b, "\n%s: %s; last lines of its console (%s):\n%s\n", name, why, l.ConsoleLog(n), vm.ConsoleTail(l.ConsoleLog(n), 25))
	}
	return fmt.Errorf("nodes not up: %s%s", strings.Join(missing, ", "), b.String())
}

func progressLine(nodes []Node, ready map[string]time.Duration, dead map[string]bool, elapsed time.Duration) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		switch d, ok := ready[n.Name]; {
		case ok:
			parts = append(parts, fmt.Sprintf("%s up (%.0f s)", n.Name, d.Seconds()))
		case dead[n.Name]:
			parts = append(parts, n.Name+" DIED")
		default:
			parts = append(parts, n.Name+" booting")
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("lab: waiting for SSH %3.0f s: %s", elapsed.Seconds(), strings.Join(parts, ", "))
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// SSHCommand is an interactive ssh to node (a shell, or command) that
// inherits the terminal.
func (l *Lab) SSHCommand(st *State, n Node, command []string) *exec.Cmd {
	args := vm.SSHArgs(image.Image{Dir: st.Image}.Key(), st.SSHPort(n), false, command...)
	if len(command) == 0 {
		args = append([]string{"-t"}, args...)
	}
	cmd := exec.Command("ssh", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd
}

// Console connects the terminal to node's serial console until Ctrl-] is
// typed or the VM goes away. A terminal is put in raw mode meanwhile.
func (l *Lab) Console(ctx context.Context, n Node, in *os.File, out io.Writer) error {
	return vm.Console(ctx, l.serialSocket(n), n.Name, in, out)
}
