package cloud

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/vm"
)

// GuestName is the clouds.yaml entry for the nodes (their fence agent):
// the lab's OpenStack at GuestURL, with the same credentials as Name.
const GuestName = "lab-guest"

// GuestURL is the base URL of the lab's OpenStack, served on port, as the
// nodes reach it: a guestfwd on their management network runs a Relay per
// connection. Keystone builds its catalog from the request's Host, so the
// guests get compute and volume URLs they can reach too.
func GuestURL(port int) string {
	return fmt.Sprintf("http://%s:%d", vm.OpenStackAddress, port)
}

// relayDialTimeout bounds the connection to the lab's OpenStack.
const relayDialTimeout = 10 * time.Second

// CheckRelayAddress accepts only 127.0.0.1:PORT: a guest reaches nothing
// on the host but the lab's own services.
func CheckRelayAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("relay address %q: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); host != "127.0.0.1" || err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("relay address %q: the relay connects only to 127.0.0.1:PORT", addr)
	}
	return nil
}

// closeWriter is a connection that can shut down its sending side alone.
type closeWriter interface{ CloseWrite() error }

// Relay copies one guest connection (what qemu's guestfwd gives `lab
// relay` as stdin and stdout) to a new connection to addr, 127.0.0.1:PORT,
// and back. The end of the guest's data is passed on as a half-close, and
// the relay goes on until the service has answered and closed; once the
// service closes, or either side fails, it closes both and returns.
func Relay(guest net.Conn, addr string) error {
	defer guest.Close()
	if err := CheckRelayAddress(addr); err != nil {
		return err
	}
	service, err := net.DialTimeout("tcp", addr, relayDialTimeout)
	if err != nil {
		return err
	}
	defer service.Close()
	fromGuest, toGuest := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := io.Copy(service, guest)
		if err == nil {
			err = closeWrite(service)
		}
		fromGuest <- err
	}()
	go func() {
		_, err := io.Copy(guest, service)
		if err == nil {
			err = closeWrite(guest)
		}
		toGuest <- err
	}()
	for {
		select {
		case err := <-fromGuest:
			if err != nil {
				return err
			}
			fromGuest = nil // half-closed: the answer still comes back
		case err := <-toGuest:
			return err
		}
	}
}

func closeWrite(c net.Conn) error {
	if cw, ok := c.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return nil
}
