package systemd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// This is the part of the D-Bus protocol a unit-state query needs
// (https://dbus.freedesktop.org/doc/dbus-specification.html): a Unix
// socket, EXTERNAL authentication, a method call and its reply. A D-Bus
// library would bring a network stack, reflection-driven marshalling and
// signal dispatch into every module binary that probes a device.

// Message types and header fields (specification, "Message Format").
const (
	msgMethodCall   = 1
	msgMethodReturn = 2
	msgError        = 3

	fieldPath        = 1
	fieldInterface   = 2
	fieldMember      = 3
	fieldErrorName   = 4
	fieldReplySerial = 5
	fieldDestination = 6
	fieldSignature   = 8

	// maxMessage is the protocol's limit on a whole message.
	maxMessage = 1 << 27
)

// Conn is a D-Bus connection: to a bus, or straight to systemd's private
// socket.
type Conn struct {
	f      *os.File
	in     *bufio.Reader
	serial uint32
}

// Dial connects to a D-Bus server address ("unix:path=…" or
// "unix:abstract=…"; of several separated by ';' the first that connects),
// authenticates as this process's uid, and says Hello when the server is a
// bus (systemd's private socket is not).
func Dial(ctx context.Context, address string, hello bool) (*Conn, error) {
	var c *Conn
	err := errors.New("dbus: invalid bus address (no transport)")
	for _, a := range strings.Split(address, ";") {
		if c, err = dialUnix(a); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if err := c.start(ctx, hello); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// dialUnix connects to one address. The socket is made with x/sys/unix
// rather than package net, which would weigh more than all the rest.
func dialUnix(address string) (*Conn, error) {
	transport, keys, ok := strings.Cut(address, ":")
	if !ok {
		return nil, errors.New("dbus: invalid bus address (no transport)")
	}
	if transport != "unix" {
		return nil, fmt.Errorf("dbus: unsupported transport %q (only unix)", transport)
	}
	var path, abstract string
	for _, kv := range strings.Split(keys, ",") {
		k, v, _ := strings.Cut(kv, "=")
		v, err := unescapeAddressValue(v)
		if err != nil {
			return nil, err
		}
		switch k {
		case "path":
			path = v
		case "abstract":
			abstract = v
		}
	}
	name := path
	switch {
	case path == "" && abstract == "":
		return nil, errors.New("dbus: invalid address (neither path nor abstract set)")
	case path != "" && abstract != "":
		return nil, errors.New("dbus: invalid address (both path and abstract set)")
	case abstract != "":
		name = "@" + abstract // x/sys/unix: a leading @ is the abstract namespace
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("dial unix %s: socket: %w", name, err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dial unix %s: connect: %w", name, err)
	}
	// A non-blocking descriptor joins the runtime's poller: reads and
	// writes then honour deadlines, and so the context.
	f := os.NewFile(uintptr(fd), "dbus:"+name)
	return &Conn{f: f, in: bufio.NewReader(f)}, nil
}

// unescapeAddressValue undoes the %xx escapes of a D-Bus address value.
func unescapeAddressValue(v string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", fmt.Errorf("dbus: invalid escape in address value %q", v)
		}
		x, err := hex.DecodeString(v[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("dbus: invalid escape in address value %q", v)
		}
		b.Write(x)
		i += 2
	}
	return b.String(), nil
}

// Close ends the connection.
func (c *Conn) Close() error { return c.f.Close() }

// watch makes the connection's reads and writes give up when ctx ends.
func (c *Conn) watch(ctx context.Context) (stop func()) {
	deadline, _ := ctx.Deadline() // zero: none
	_ = c.f.SetDeadline(deadline)
	after := context.AfterFunc(ctx, func() { _ = c.f.SetDeadline(time.Unix(1, 0)) })
	return func() { after() }
}

// ioError is err, or the context's error when that is why I/O failed.
func ioError(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Only watch sets deadlines, from the context: its own timer fires
		// at the same instant, if it has not yet.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// start authenticates with EXTERNAL as our uid (the server checks it
// against the socket's peer credentials) and, on a bus, says Hello.
func (c *Conn) start(ctx context.Context, hello bool) error {
	defer c.watch(ctx)()
	uid := hex.EncodeToString([]byte(strconv.Itoa(os.Getuid())))
	if _, err := c.f.Write([]byte("\x00AUTH EXTERNAL " + uid + "\r\n")); err != nil {
		return ioError(ctx, err)
	}
	line, err := c.in.ReadString('\n')
	if err != nil {
		return ioError(ctx, err)
	}
	switch fields := strings.Fields(line); {
	case len(fields) == 2 && fields[0] == "OK":
	case len(fields) > 0 && fields[0] == "REJECTED":
		return errors.New("dbus: authentication failed")
	default:
		return errors.New("dbus: authentication protocol error")
	}
	if _, err := c.f.Write([]byte("BEGIN\r\n")); err != nil {
		return ioError(ctx, err)
	}
	if !hello {
		return nil
	}
	_, err = c.call(ctx, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "", nil)
	return err
}

// Error is an error reply. Its text is the message the server gave, else
// its name, as D-Bus libraries show it.
type Error struct {
	Name    string // org.freedesktop.DBus.Error.AccessDenied...
	Message string
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Name
}

// message is a received message: its type, the header fields a reply needs,
// and its body with the byte order to decode it.
type message struct {
	typ         byte
	replySerial uint32
	errorName   string
	signature   string
	body        decoder
}

// call sends a method call and waits for its reply, passing over anything
// else the server sends (a bus's NameAcquired signal after Hello). body is
// already marshalled as sig says, little-endian.
func (c *Conn) call(ctx context.Context, dest, path, iface, member, sig string, body []byte) (*message, error) {
	defer c.watch(ctx)()
	c.serial++
	var e encoder
	e.bytes('l', msgMethodCall, 0, 1) // byte order, type, flags, protocol version
	e.uint32(uint32(len(body)))
	e.uint32(c.serial)
	fields := e.arrayStart()
	e.stringField(fieldPath, "o", path)
	e.stringField(fieldDestination, "s", dest)
	e.stringField(fieldInterface, "s", iface)
	e.stringField(fieldMember, "s", member)
	if sig != "" {
		e.align(8)
		e.bytes(fieldSignature)
		e.signature("g")
		e.signature(sig)
	}
	e.arrayEnd(fields)
	e.align(8)
	e.b = append(e.b, body...)
	if _, err := c.f.Write(e.b); err != nil {
		return nil, ioError(ctx, err)
	}
	for {
		m, err := c.read()
		if err != nil {
			return nil, ioError(ctx, err)
		}
		if (m.typ != msgMethodReturn && m.typ != msgError) || m.replySerial != c.serial {
			continue
		}
		if m.typ == msgError {
			e := &Error{Name: m.errorName}
			if strings.HasPrefix(m.signature, "s") {
				e.Message = m.body.string()
			}
			return nil, e
		}
		return m, nil
	}
}

// read reads one message whole.
func (c *Conn) read() (*message, error) {
	fixed := make([]byte, 16)
	if _, err := io.ReadFull(c.in, fixed); err != nil {
		return nil, err
	}
	var order binary.ByteOrder
	switch fixed[0] {
	case 'l':
		order = binary.LittleEndian
	case 'B':
		order = binary.BigEndian
	default:
		return nil, errors.New("dbus: invalid byte order in message")
	}
	bodyLen, fieldsLen := order.Uint32(fixed[4:]), order.Uint32(fixed[12:])
	if uint64(fieldsLen)+uint64(bodyLen)+16 > maxMessage {
		return nil, errors.New("dbus: message is too long")
	}
	headerEnd := 16 + int(fieldsLen)
	total := (headerEnd+7)&^7 + int(bodyLen)
	// The buffer grows with what arrives, not with what the lengths claim.
	buf := bytes.NewBuffer(fixed)
	if _, err := io.CopyN(buf, c.in, int64(total-16)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	b := buf.Bytes()
	m := &message{typ: fixed[1]}
	d := decoder{b: b[:headerEnd], pos: 16, order: order}
	for d.err == nil && d.pos < headerEnd {
		d.align(8)
		code := d.byte()
		switch sig := d.signature(); sig {
		case "s", "o":
			v := d.string()
			if code == fieldErrorName {
				m.errorName = v
			}
		case "g":
			v := d.signature()
			if code == fieldSignature {
				m.signature = v
			}
		case "u":
			v := d.uint32()
			if code == fieldReplySerial {
				m.replySerial = v
			}
		case "y":
			d.byte()
		default:
			d.fail("header field %d of type %q", code, sig)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	// The body starts 8-aligned in the message: aligning within it is the
	// same as aligning within the message.
	m.body = decoder{b: b[(headerEnd+7)&^7:], order: order}
	return m, nil
}

// encoder marshals little-endian. Alignment is relative to the start of
// the message (or of a body, which starts 8-aligned).
type encoder struct{ b []byte }

func (e *encoder) align(n int) {
	for len(e.b)%n != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) bytes(b ...byte) { e.b = append(e.b, b...) }

func (e *encoder) uint32(v uint32) {
	e.align(4)
	e.b = binary.LittleEndian.AppendUint32(e.b, v)
}

func (e *encoder) string(s string) {
	e.uint32(uint32(len(s)))
	e.b = append(append(e.b, s...), 0)
}

func (e *encoder) signature(s string) {
	e.b = append(append(append(e.b, byte(len(s))), s...), 0)
}

// arrayStart writes an array's length, to be filled in by arrayEnd, and
// returns where its elements start. Elements here are 8-aligned structs or
// 4-aligned strings; both start aligned after the length when the length
// is 8-aligned, as in a header, or when they are strings.
func (e *encoder) arrayStart() int {
	e.uint32(0)
	return len(e.b)
}

func (e *encoder) arrayEnd(start int) {
	binary.LittleEndian.PutUint32(e.b[start-4:], uint32(len(e.b)-start))
}

// stringField writes a header field whose value is a string or object path.
func (e *encoder) stringField(code byte, sig, v string) {
	e.align(8)
	e.bytes(code)
	e.signature(sig)
	e.string(v)
}

// decoder unmarshals; the first error sticks and later reads return zero
// values, so a caller checks err once.
type decoder struct {
	b     []byte
	pos   int
	order binary.ByteOrder
	err   error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("dbus: malformed message: "+format, args...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.pos {
		d.fail("%d bytes wanted at offset %d of %d", n, d.pos, len(d.b))
		return nil
	}
	d.pos += n
	return d.b[d.pos-n : d.pos]
}

func (d *decoder) align(n int) {
	if pad := (n - d.pos%n) % n; pad > 0 {
		d.take(pad)
	}
}

func (d *decoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	d.align(4)
	if b := d.take(4); b != nil {
		return d.order.Uint32(b)
	}
	return 0
}

func (d *decoder) string() string {
	n := d.uint32()
	b := d.take(int(min(n, 1<<30)) + 1)
	if b == nil {
		return ""
	}
	if b[n] != 0 {
		d.fail("string not terminated by NUL")
	}
	return string(b[:n])
}

func (d *decoder) signature() string {
	n := int(d.byte())
	b := d.take(n + 1)
	if b == nil {
		return ""
	}
	if b[n] != 0 {
		d.fail("signature not terminated by NUL")
	}
	return string(b[:n])
}

// array calls elem for each element of an array whose elements align to
// elemAlign, and checks that they end where the array's length says.
func (d *decoder) array(elemAlign int, elem func()) {
	n := d.uint32()
	d.align(elemAlign)
	if d.err != nil {
		return
	}
	if uint64(n) > uint64(len(d.b)-d.pos) {
		d.fail("array of %d bytes at offset %d of %d", n, d.pos, len(d.b))
		return
	}
	end := d.pos + int(n)
	for d.err == nil && d.pos < end {
		d.align(elemAlign)
		elem()
	}
	if d.err == nil && d.pos != end {
		d.fail("array elements end at %d, its length says %d", d.pos, end)
	}
}
