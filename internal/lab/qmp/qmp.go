// Package qmp is a client of QEMU's Machine Protocol: one connection to a
// VM's QMP socket, commands and their answers, asynchronous events
// skipped.
package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// Client is a client of one VM's QEMU Machine Protocol socket.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
}

// Dial connects to the socket at path and leaves capabilities
// negotiation mode, so that commands can be executed.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to QMP %s: %w", path, err)
	}
	q := &Client{conn: conn, r: bufio.NewReader(conn)}
	if err := q.setDeadline(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	var greeting map[string]json.RawMessage
	if err := q.read(&greeting); err != nil {
		conn.Close()
		return nil, fmt.Errorf("QMP greeting from %s: %w", path, err)
	}
	if _, ok := greeting["QMP"]; !ok {
		conn.Close()
		return nil, fmt.Errorf("%s does not speak QMP", path)
	}
	if _, err := q.Execute(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *Client) Close() error { return q.conn.Close() }

func (q *Client) setDeadline(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	return q.conn.SetDeadline(deadline)
}

func (q *Client) read(v any) error {
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

// Error is an error answer from QEMU.
type Error struct {
	Command string
	Class   string `json:"class"`
	Desc    string `json:"desc"`
}

func (e *Error) Error() string { return fmt.Sprintf("QMP %s: %s (%s)", e.Command, e.Desc, e.Class) }

// Execute runs one command and returns its "return" value. Asynchronous
// events that arrive meanwhile are skipped.
func (q *Client) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	if err := q.setDeadline(ctx); err != nil {
		return nil, err
	}
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("QMP %s: %w", command, err)
	}
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("QMP %s: %w", command, err)
	}
	for {
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *Error          `json:"error"`
			Event  string          `json:"event"`
		}
		if err := q.read(&resp); err != nil {
			return nil, fmt.Errorf("QMP %s: %w", command, err)
		}
		switch {
		case resp.Event != "":
			continue
		case resp.Error != nil:
			resp.Error.Command = command
			return nil, resp.Error
		default:
			return resp.Return, nil
		}
	}
}

// Status is the VM's run state as QEMU reports it: running, paused,
// shutdown, ...
func (q *Client) Status(ctx context.Context) (string, error) {
	raw, err := q.Execute(ctx, "query-status", nil)
	if err != nil {
		return "", err
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Status == "" {
		return "", fmt.Errorf("QMP query-status: unexpected answer %s", raw)
	}
	return st.Status, nil
}

// HasDevice reports whether the VM has a device with id (device_add's id,
// or -device id=).
func (q *Client) HasDevice(ctx context.Context, id string) (bool, error) {
	raw, err := q.Execute(ctx, "qom-list", map[string]any{"path": "/machine/peripheral"})
	if err != nil {
		return false, err
	}
	var props []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &props); err != nil {
		return false, fmt.Errorf("qom-list: %w", err)
	}
	for _, p := range props {
		if p.Name == id {
			return true, nil
		}
	}
	return false, nil
}
