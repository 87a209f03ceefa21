package systemd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// privateSocket serves one connection the way systemd's private socket
// does: EXTERNAL authentication, no bus, no Hello. Messages are decoded and
// encoded by godbus, so the client's wire format is checked by another
// implementation. answer gets each method call and returns what to send
// back, in order; nil hangs up.
type privateSocket struct {
	addr   string
	auth   string // the reply to AUTH, then hang up; "" means OK
	answer func(call *dbus.Message) []*dbus.Message
	order  binary.ByteOrder
	done   chan error
}

func servePrivate(t *testing.T, s *privateSocket) *privateSocket {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "private")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s.addr, s.done = "unix:path="+sock, make(chan error, 1)
	if s.order == nil {
		s.order = binary.LittleEndian
	}
	go func() { s.done <- s.serve(l) }()
	return s
}

func (s *privateSocket) serve(l net.Listener) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	in := bufio.NewReader(c)
	if b, err := in.ReadByte(); err != nil || b != 0 {
		return fmt.Errorf("credentials byte: %v %v", b, err)
	}
	line, err := in.ReadString('\n')
	if err != nil {
		return err
	}
	uid := hex.EncodeToString([]byte(strconv.Itoa(os.Getuid())))
	if line != "AUTH EXTERNAL "+uid+"\r\n" {
		return fmt.Errorf("auth line %q", line)
	}
	if s.auth != "" {
		_, err := c.Write([]byte(strings.TrimPrefix(s.auth, "hang up")))
		return err
	}
	if _, err := c.Write([]byte("OK 0123456789abcdef0123456789abcdef\r\n")); err != nil {
		return err
	}
	if line, err := in.ReadString('\n'); err != nil || line != "BEGIN\r\n" {
		return fmt.Errorf("begin %q %v", line, err)
	}
	for {
		call, err := dbus.DecodeMessage(in)
		if err != nil {
			return nil // the client hung up
		}
		answer := s.answer(call)
		if answer == nil {
			return nil // hang up
		}
		for _, m := range answer {
			if err := m.EncodeTo(c, s.order); err != nil {
				return err
			}
		}
	}
}

func replyTo(call *dbus.Message, body ...any) *dbus.Message {
	m := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(call.Serial()),
	}, Body: body}
	if len(body) > 0 {
		m.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(body...))
	}
	return m
}

func errorTo(call *dbus.Message, name string, body ...any) *dbus.Message {
	m := replyTo(call, body...)
	m.Type = dbus.TypeError
	m.Headers[dbus.FieldErrorName] = dbus.MakeVariant(name)
	return m
}

func signal() *dbus.Message {
	return &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath:      dbus.MakeVariant(dbus.ObjectPath("/org/freedesktop/systemd1")),
		dbus.FieldInterface: dbus.MakeVariant("org.freedesktop.systemd1.Manager"),
		dbus.FieldMember:    dbus.MakeVariant("UnitNew"),
		dbus.FieldSignature: dbus.MakeVariant(dbus.SignatureOf("", dbus.ObjectPath("/"))),
	}, Body: []any{"x.service", dbus.ObjectPath("/org/freedesktop/systemd1/unit/x")}}
}

// checkCall fails unless call is systemd's ListUnitsByNames with names.
func checkCall(call *dbus.Message, names ...string) error {
	want := map[dbus.HeaderField]any{
		dbus.FieldPath:        dbus.ObjectPath("/org/freedesktop/systemd1"),
		dbus.FieldDestination: "org.freedesktop.systemd1",
		dbus.FieldInterface:   "org.freedesktop.systemd1.Manager",
		dbus.FieldMember:      "ListUnitsByNames",
		dbus.FieldSignature:   dbus.SignatureOf([]string{}),
	}
	for f, v := range want {
		if got := call.Headers[f].Value(); got != v {
			return fmt.Errorf("header %d = %v, want %v", f, got, v)
		}
	}
	if len(call.Body) != 1 || fmt.Sprint(call.Body[0]) != fmt.Sprint(names) {
		return fmt.Errorf("body %v, want %v", call.Body, names)
	}
	return nil
}

func units(names ...string) []busUnitStatus {
	var out []busUnitStatus
	for _, n := range names {
		out = append(out, busUnitStatus{Name: n, Description: "the " + n, LoadState: "loaded", ActiveState: "active", SubState: "running",
			Path: "/org/freedesktop/systemd1/unit/x", JobID: 7, JobType: "start", JobPath: "/org/freedesktop/systemd1/job/7"})
	}
	return out
}

func TestPrivateSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	names := []string{"dlm.service", "o2cb.service"}
	for _, c := range []struct {
		name   string
		order  binary.ByteOrder
		answer func(call *dbus.Message) []*dbus.Message
		want   string // states, or the error
	}{
		{"reply", binary.LittleEndian, func(call *dbus.Message) []*dbus.Message {
			return []*dbus.Message{replyTo(call, units(names...))}
		}, "[dlm.service (active/running) o2cb.service (active/running)]"},
		{"big-endian reply after a signal and a stray reply", binary.BigEndian, func(call *dbus.Message) []*dbus.Message {
			stray := replyTo(call, "not for you")
			stray.Headers[dbus.FieldReplySerial] = dbus.MakeVariant(call.Serial() + 100)
			return []*dbus.Message{signal(), stray, replyTo(call, units("o2cb.service"))}
		}, "[dlm.service (not installed) o2cb.service (active/running)]"},
		{"error with a message", binary.LittleEndian, func(call *dbus.Message) []*dbus.Message {
			return []*dbus.Message{errorTo(call, "org.freedesktop.DBus.Error.AccessDenied", "Access denied")}
		}, "ask systemd for the state of dlm.service, o2cb.service: Access denied"},
		{"error without one", binary.LittleEndian, func(call *dbus.Message) []*dbus.Message {
			return []*dbus.Message{errorTo(call, "org.freedesktop.DBus.Error.Failed")}
		}, "ask systemd for the state of dlm.service, o2cb.service: org.freedesktop.DBus.Error.Failed"},
		{"an answer of another shape", binary.LittleEndian, func(call *dbus.Message) []*dbus.Message {
			return []*dbus.Message{replyTo(call, []string{"dlm.service"})}
		}, `ask systemd for the state of dlm.service, o2cb.service: dbus: ListUnitsByNames answered "as", not a(ssssssouso)`},
		{"hang-up", binary.LittleEndian, func(call *dbus.Message) []*dbus.Message { return nil },
			"ask systemd for the state of dlm.service, o2cb.service: EOF"},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := make(chan error, 1)
			s := servePrivate(t, &privateSocket{order: c.order, answer: func(call *dbus.Message) []*dbus.Message {
				calls <- checkCall(call, names...)
				return c.answer(call)
			}})
			bus := Bus{Connect: func(ctx context.Context) (*Conn, error) { return Dial(ctx, s.addr, false) }}
			states, err := bus.States(ctx, names...)
			got := fmt.Sprint(states)
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if err := <-calls; err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	for _, c := range []struct{ reply, want string }{
		{"REJECTED EXTERNAL\r\n", "dbus: authentication failed"},
		{"OK\r\n", "dbus: authentication protocol error"},
		{"DATA\r\n", "dbus: authentication protocol error"},
		{"hang up", "EOF"},
	} {
		s := servePrivate(t, &privateSocket{auth: c.reply})
		if _, err := Dial(context.Background(), s.addr, false); err == nil || err.Error() != c.want {
			t.Errorf("server says %q: got %v, want %s", c.reply, err, c.want)
		}
	}
}

// A server that never answers: the context ends the wait.
func TestCallHonoursTheContext(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	s := servePrivate(t, &privateSocket{answer: func(*dbus.Message) []*dbus.Message { <-block; return nil }})
	conn, err := Dial(context.Background(), s.addr, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := conn.ListUnitsByNames(ctx, []string{"dlm.service"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := conn.ListUnitsByNames(ctx, []string{"dlm.service"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
}

// Without a reachable system bus, root talks to systemd's private socket.
func TestConnectSystemdFallsBackToThePrivateSocket(t *testing.T) {
	s := servePrivate(t, &privateSocket{answer: func(call *dbus.Message) []*dbus.Message {
		return []*dbus.Message{replyTo(call, units("dlm.service"))}
	}})
	old := systemdPrivateBus
	systemdPrivateBus = s.addr
	defer func() { systemdPrivateBus = old }()
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	states, err := Bus{}.States(context.Background(), "dlm.service")
	if os.Geteuid() != 0 {
		if err == nil || !strings.Contains(err.Error(), "cannot reach systemd over D-Bus to check dlm.service: dial unix") {
			t.Errorf("not root: %v", err)
		}
		return
	}
	if err != nil || fmt.Sprint(states) != "[dlm.service (active/running)]" {
		t.Errorf("%v %v", states, err)
	}
}

func TestSystemBusAddress(t *testing.T) {
	addr := privateBus(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/first;"+addr)
	old := systemdPrivateBus
	systemdPrivateBus = "unix:path=/nonexistent/private"
	defer func() { systemdPrivateBus = old }()
	// The bus answers Hello; nobody owns systemd's name there, which the
	// bus says in an error reply.
	_, err := Bus{}.States(context.Background(), "dlm.service")
	if err == nil || !strings.HasPrefix(err.Error(), "ask systemd for the state of dlm.service: ") || !strings.Contains(err.Error(), "org.freedesktop.systemd1") {
		t.Errorf("%v", err)
	}
}

func TestAddresses(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "a b")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for addr, want := range map[string]string{
		"unix:path=" + strings.ReplaceAll(sock, " ", "%20"): "",
		"tcp:host=localhost,port=1":                         `dbus: unsupported transport "tcp" (only unix)`,
		"nothing":                                           "dbus: invalid bus address (no transport)",
		"":                                                  "dbus: invalid bus address (no transport)",
		"unix:runtime=yes":                                  "dbus: invalid address (neither path nor abstract set)",
		"unix:path=/x,abstract=y":                           "dbus: invalid address (both path and abstract set)",
		"unix:path=/x%2":                                    `dbus: invalid escape in address value "/x%2"`,
		"unix:path=/x%zz":                                   `dbus: invalid escape in address value "/x%zz"`,
		"unix:abstract=cinder-multiattach-test-nobody": "dial unix @cinder-multiattach-test-nobody: connect: connection refused",
	} {
		c, err := dialUnix(addr)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			c.Close()
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", addr, got, want)
		}
	}
}

// FuzzReadMessage: whatever a server sends, reading it and decoding a
// ListUnitsByNames body from it fail cleanly or succeed, never panic.
func FuzzReadMessage(f *testing.F) {
	call := &dbus.Message{Type: dbus.TypeMethodCall, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldPath: dbus.MakeVariant(dbus.ObjectPath("/")), dbus.FieldMember: dbus.MakeVariant("X"),
	}}
	for _, m := range []*dbus.Message{replyTo(call, units("a.service", "b.service")), errorTo(call, "a.B", "text"), signal()} {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			var b bytes.Buffer
			if err := m.EncodeTo(&b, order); err != nil {
				f.Fatal(err)
			}
			f.Add(b.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Conn{in: bufio.NewReader(bytes.NewReader(data))}
		if m, err := c.read(); err == nil {
			_, _ = decodeUnitStatuses(m.body)
		}
	})
}
