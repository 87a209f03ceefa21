package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// consoleEscape (Ctrl-]) leaves the console, as in telnet.
const consoleEscape = 0x1d

// Console connects the terminal to node's serial console until Ctrl-] is
// typed or the VM goes away. A terminal is put in raw mode meanwhile.
func (l *Lab) Console(ctx context.Context, n Node, in *os.File, out io.Writer) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", l.serialSocket(n))
	if err != nil {
		return fmt.Errorf("%s's console: %w", n.Name, err)
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
		fmt.Fprintf(out, "connected to %s's console; Ctrl-] leaves\r\n", n.Name)
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
