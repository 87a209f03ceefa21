package vm

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// consoleEscape (Ctrl-]) leaves the console, as in telnet.
const consoleEscape = 0x1d

// Console connects the terminal to the serial console of the VM called
// name, at socket, until Ctrl-] is typed or the VM goes away. A terminal is
// put in raw mode meanwhile.
func Console(ctx context.Context, socket, name string, in *os.File, out io.Writer) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("%s's console: %w", name, err)
	}
	defer conn.Close()
	if old, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS); err == nil {
		raw := *old
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, &raw); err == nil {
			defer unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, old)
		}
		fmt.Fprintf(out, "connected to %s's console; Ctrl-] leaves\r\n", name)
	}
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(out, conn)
		done <- err
	}()
	go func() {
		buf := make([]byte, 256)
		for {
			k, err := in.Read(buf)
			for i := 0; i < k; i++ {
				if buf[i] == consoleEscape {
					conn.Write(buf[:i])
					done <- nil
					return
				}
			}
			if k > 0 {
				if _, werr := conn.Write(buf[:k]); werr != nil {
					done <- werr
					return
				}
			}
			if err != nil {
				done <- nil
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return nil
	}
}

// ConsoleTail is the last n lines of a console log, without the terminal
// control characters the guest prints.
func ConsoleTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no console log: %v)", err)
	}
	clean := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r >= ' ' {
			return r
		}
		return -1
	}, string(b))
	return tail(clean, n)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
