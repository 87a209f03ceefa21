package vm

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/command"
)

// SSHOptions are the ssh client options for lab nodes: the nodes share the
// image's host keys and their ports move between labs, so host keys are
// neither checked nor remembered.
var SSHOptions = []string{
	"-o", "StrictHostKeyChecking=no",
	"-o", "UserKnownHostsFile=/dev/null",
	"-o", "LogLevel=ERROR",
	"-o", "IdentitiesOnly=yes",
}

// SSHArgs is the ssh command line (without "ssh") that reaches a node as
// root; command, if any, follows.
func SSHArgs(key string, port int, batch bool, command ...string) []string {
	args := append([]string{"-i", key, "-p", fmt.Sprint(port)}, SSHOptions...)
	if batch {
		// A guest stuck in D state ignores timeouts inside it: the host
		// side must give up on its own.
		args = append(args, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
			"-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")
	}
	args = append(args, "root@127.0.0.1")
	return append(args, command...)
}

// SSH runs a shell command as root on the VM whose SSH is forwarded to
// port, with stdin (if not empty), and returns its stdout.
func SSH(ctx context.Context, key string, port int, cmd, stdin string) ([]byte, error) {
	res, err := command.Exec{Stdin: stdin}.Run(ctx, "ssh", SSHArgs(key, port, true, cmd)...)
	return []byte(res.Stdout), err
}

// SSHReady reports whether the VM whose SSH is forwarded to port answers
// SSH for root. A forwarded port accepts connections even before the guest
// listens, so the banner is read before ssh is tried.
func SSHReady(ctx context.Context, key string, port int) bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 3*time.Second)
	if err != nil {
		return false
	}
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	banner, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.HasPrefix(banner, "SSH-") {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = SSH(cctx, key, port, "true", "")
	return err == nil
}
