package qmp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/qmp"
	"github.com/cinder-multiattach/cinder.multiattach/internal/lab/volume"
)

// fakeQMP answers like QEMU: a greeting, then one answer per command, with
// an event slipped in before the answer to qom-list.
func fakeQMP(t *testing.T, answers map[string]string) (string, chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 16)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.Write([]byte(`{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}` + "\n"))
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			var req struct {
				Execute   string          `json:"execute"`
				Arguments json.RawMessage `json:"arguments"`
			}
			json.Unmarshal(sc.Bytes(), &req)
			got <- req.Execute + " " + string(req.Arguments)
			if req.Execute == "qom-list" {
				conn.Write([]byte(`{"event": "DEVICE_DELETED", "data": {}, "timestamp": {}}` + "\n"))
			}
			answer, ok := answers[req.Execute]
			if !ok {
				answer = `{"return": {}}`
			}
			conn.Write([]byte(answer + "\n"))
		}
	}()
	return path, got
}

func TestQMP(t *testing.T) {
	path, got := fakeQMP(t, map[string]string{
		"qom-list":     `{"return": [{"name": "type", "type": "string"}, {"name": "dvol1", "type": "child<virtio-blk-pci>"}]}`,
		"blockdev-add": `{"error": {"class": "GenericError", "desc": "Duplicate nodes with node-name='vvol1'"}}`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := qmp.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if c := <-got; c != "qmp_capabilities " {
		t.Errorf("first command = %q", c)
	}
	has, err := q.HasDevice(ctx, "dvol1")
	if err != nil || !has {
		t.Errorf("HasDevice(dvol1) = %v, %v (the event before the answer must be skipped)", has, err)
	}
	if c := <-got; c != `qom-list {"path":"/machine/peripheral"}` {
		t.Errorf("qom-list request = %q", c)
	}
	_, err = q.Execute(ctx, "blockdev-add", volume.Device{ID: "vol1", Path: "/v"}.BlockdevOptions())
	var qe *qmp.Error
	if !errors.As(err, &qe) || qe.Class != "GenericError" || !strings.Contains(strings.ToLower(qe.Desc), "duplicate") {
		t.Errorf("blockdev-add error = %v", err)
	}
	<-got
	if _, err := q.Execute(ctx, "system_reset", nil); err != nil {
		t.Errorf("system_reset = %v", err)
	}
	if c := <-got; c != "system_reset " {
		t.Errorf("system_reset request = %q", c)
	}
}

func TestQMPNotQMP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, _ := ln.Accept()
		if conn != nil {
			conn.Write([]byte(`{"hello": 1}` + "\n"))
			time.Sleep(time.Second)
			conn.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := qmp.Dial(ctx, path); err == nil {
		t.Error("a socket that does not greet with QMP was accepted")
	}
}

func TestQueryStatus(t *testing.T) {
	path, got := fakeQMP(t, map[string]string{
		"query-status": `{"return": {"status": "running", "singlestep": false, "running": true}}`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := qmp.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	<-got
	if s, err := q.Status(ctx); s != "running" || err != nil {
		t.Errorf("Status = %q, %v", s, err)
	}
}
