package openstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
	"github.com/gophercloud/gophercloud/v2"
)

var (
	srvA = Server{ID: "a", Name: "alpha", Status: "ACTIVE"}
	srvB = Server{ID: "b", Name: "beta", Status: "ACTIVE"}
	srvC = Server{ID: "c", Name: "gamma", Status: "ACTIVE"}
)

func vol(multi bool, attached ...string) *Volume {
	v := &Volume{ID: "v1", Name: "shared", Status: "available", Multiattach: multi, VolumeType: "t"}
	for _, id := range attached {
		v.Attachments = append(v.Attachments, VolumeAttachment{ServerID: id})
		v.Status = "in-use"
	}
	return v
}

func ids(list []Server) string {
	var out []string
	for _, s := range list {
		out = append(out, s.ID)
	}
	return strings.Join(out, ",")
}

var multiType = &VolumeType{Name: "multiattach", ExtraSpecs: map[string]string{"multiattach": "<is> True"}}

func TestPlanVolume(t *testing.T) {
	names := map[string]string{"a": "alpha", "b": "beta", "c": "gamma"}
	present := Want{Volume: "shared", State: Present}
	cases := []struct {
		name   string
		want   Want
		have   Have
		create bool
		attach string
		detach string
		delete bool
		after  string
		err    string
	}{
		{name: "create and attach", want: withSize(present, 1), have: Have{Requested: []Server{srvA, srvB}, NewType: multiType},
			create: true, attach: "a,b", after: "alpha,beta"},
		{name: "missing size", want: present, have: Have{Requested: []Server{srvA}}, err: "give size"},
		{name: "an ID that does not exist", want: Want{Volume: "6f1c2a84-3b7e-4a5d-9c0e-2d8b7f4e1a93", State: Present, Size: 1},
			have: Have{Requested: []Server{srvA}, NewType: multiType}, err: "no volume has ID"},
		{name: "new volume, plain type, two servers", want: withSize(present, 1),
			have: Have{Requested: []Server{srvA, srvB}, NewType: &VolumeType{Name: "plain"}}, err: `volume type "plain", which is not multiattach`},
		{name: "new volume, no default type, two servers", want: withSize(present, 1), have: Have{Requested: []Server{srvA, srvB}},
			err: "the cloud's default volume type"},
		{name: "new volume, plain type, one server", want: withSize(present, 1),
			have: Have{Requested: []Server{srvA}, NewType: &VolumeType{Name: "plain"}}, create: true, attach: "a", after: "alpha"},
		{name: "attach the missing ones only", want: present, have: Have{Volume: vol(true, "a"), Requested: []Server{srvA, srvB, srvC}},
			attach: "b,c", after: "alpha,beta,gamma"},
		{name: "nothing to do", want: present, have: Have{Volume: vol(true, "a", "b"), Requested: []Server{srvB, srvA}}, after: "alpha,beta"},
		{name: "not exclusive keeps others", want: present, have: Have{Volume: vol(true, "a", "b"), Requested: []Server{srvA}}, after: "alpha,beta"},
		{name: "exclusive detaches others", want: exclusive(present), have: Have{Volume: vol(true, "a", "b", "c"), Requested: []Server{srvA}},
			detach: "b,c", after: "alpha"},
		{name: "exclusive without servers detaches all", want: exclusive(present), have: Have{Volume: vol(true, "a", "b")},
			detach: "a,b"},
		{name: "plain volume to a second server", want: present, have: Have{Volume: vol(false, "a"), Requested: []Server{srvA, srvB}},
			err: "is not multiattach"},
		{name: "plain volume moved", want: exclusive(present), have: Have{Volume: vol(false, "a"), Requested: []Server{srvB}},
			detach: "a", attach: "b", after: "beta"},
		{name: "volume in error", want: present, have: Have{Volume: &Volume{ID: "v1", Status: "error"}, Requested: []Server{srvA}},
			err: "status error"},
		{name: "server in error", want: present, have: Have{Volume: vol(true), Requested: []Server{{ID: "x", Name: "x", Status: "ERROR"}}},
			err: "status ERROR"},
		{name: "absent, no volume", want: Want{State: Absent, ServersGiven: true}, have: Have{Requested: []Server{srvA}}},
		{name: "absent listed only", want: Want{State: Absent, ServersGiven: true},
			have: Have{Volume: vol(true, "a", "b"), Requested: []Server{srvB, srvC}}, detach: "b", after: "alpha"},
		{name: "absent all", want: Want{State: Absent}, have: Have{Volume: vol(true, "a", "b")}, detach: "a,b"},
		{name: "absent empty list detaches none", want: Want{State: Absent, ServersGiven: true}, have: Have{Volume: vol(true, "a")},
			after: "alpha"},
		{name: "absent delete", want: Want{State: Absent, Delete: true}, have: Have{Volume: vol(true, "a", "b")}, detach: "a,b", delete: true},
		{name: "delete unattached", want: Want{State: Absent, Delete: true}, have: Have{Volume: vol(true)}, delete: true},
		{name: "delete leaving attachments", want: Want{State: Absent, Delete: true, ServersGiven: true},
			have: Have{Volume: vol(true, "a", "b"), Requested: []Server{srvA}}, err: "stays attached to beta"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.have.Names = names
			p, err := PlanVolume(c.have, c.want)
			if c.err != "" {
				var input *InputError
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &input) {
					t.Fatalf("err %v, want an input error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("create=%v attach=%s detach=%s delete=%v after=%s", p.Create, ids(p.Attach), ids(p.Detach), p.Delete, strings.Join(p.After, ","))
			want := fmt.Sprintf("create=%v attach=%s detach=%s delete=%v after=%s", c.create, c.attach, c.detach, c.delete, c.after)
			if got != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
			if p.Changes() != (c.create || c.attach != "" || c.detach != "" || c.delete) {
				t.Errorf("Changes() = %v", p.Changes())
			}
		})
	}
}

func withSize(w Want, size int) Want { w.Size = size; return w }

func TestPlanVolumeWarnsAboutWhatItLeavesAlone(t *testing.T) {
	p, err := PlanVolume(Have{Volume: vol(true)}, Want{Volume: "shared", State: Present, Size: 5, VolumeType: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 2 || !strings.Contains(p.Warnings[0], "does not resize") || !strings.Contains(p.Warnings[1], "does not retype") {
		t.Errorf("warnings: %q", p.Warnings)
	}
}

func exclusive(w Want) Want { w.Exclusive = true; return w }

func TestWantFromParams(t *testing.T) {
	parse := func(kv ...any) (Want, error) {
		m := map[string]any{"volume": "v"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		data := []byte(mustJSON(m))
		req, err := module.DecodeArgs("multiattach_volume", data, Spec)
		if err != nil {
			return Want{}, err
		}
		return WantFromParams(req.Params)
	}
	o, err := parse("servers", "a,b", "verify", "no", "endpoint_type", "internal", "timeout", "30")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Servers, "|") != "a|b" || o.Conn.ValidateCerts == nil || *o.Conn.ValidateCerts || o.Conn.Interface != "internal" ||
		o.Timeout != 30*time.Second || !o.Wait || o.State != Present || !o.ServersGiven {
		t.Errorf("parsed %+v", o)
	}
	if o, _ := parse(); o.ServersGiven || o.Conn.ValidateCerts != nil {
		t.Errorf("defaults: %+v", o)
	}
	for _, c := range []struct {
		kv  []any
		msg string
	}{
		{[]any{"volume", " "}, "volume must be"},
		{[]any{"size", -1}, "size must be at least 1"},
		{[]any{"timeout", 0}, "timeout must be 1 to 604800 (seconds), got 0"},
		{[]any{"timeout", 10000000000}, "timeout must be 1 to 604800"},
		{[]any{"api_timeout", 0}, "api_timeout must be 1 to 604800"},
		{[]any{"api_timeout", 10000000000}, "api_timeout must be 1 to 604800"},
		{[]any{"state", "absent", "exclusive", true}, "exclusive: true applies to state: present"},
		{[]any{"delete", true}, "delete: true applies to state: absent"},
		{[]any{"cloud", 5}, "cloud must be a clouds.yaml entry name or a dict"},
		{[]any{"state", "gone"}, "value of state must be one of: present, absent"},
		{[]any{"interface", "private"}, "value of interface must be one of"},
	} {
		if _, err := parse(c.kv...); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: err %v, want %q", c.kv, err, c.msg)
		}
	}
}

func TestPacerLearnsTheOperationTime(t *testing.T) {
	var p pacer
	s := p.start()
	first := []time.Duration{s.next(), s.next(), s.next()}
	if first[0] != 25*time.Millisecond || first[1] <= first[0] || first[2] <= first[1] {
		t.Errorf("without an estimate: %v", first)
	}
	for i := 0; i < 40; i++ {
		if d := s.next(); d > maxPollInterval {
			t.Fatalf("interval %v above the maximum", d)
		}
	}
	p.observe(400 * time.Millisecond)
	p.observe(500 * time.Millisecond) // the shortest stays
	s = p.start()
	if d := s.next(); d != 360*time.Millisecond {
		t.Errorf("first read after %v, want just before the estimate (360ms)", d)
	}
	if d := s.next(); d != 16*time.Millisecond {
		t.Errorf("then every %v, want estimate/25", d)
	}
	if d := s.next(); d <= 16*time.Millisecond {
		t.Errorf("intervals must grow when the operation is slower than usual: %v", d)
	}
}

func TestTransientAndMessages(t *testing.T) {
	body := []byte(`{"badRequest": {"code": 400, "message": "Invalid volume: volume x already attached"}}`)
	e400 := gophercloud.ErrUnexpectedResponseCode{Actual: 400, Body: body}
	e503 := gophercloud.ErrUnexpectedResponseCode{Actual: 503}
	if Transient(e400) || !Transient(e503) || !Transient(fmt.Errorf("read: %w", syscall.ECONNRESET)) || !Transient(io.EOF) {
		t.Error("classification")
	}
	if Transient(errors.New("x509: certificate signed by unknown authority")) {
		t.Error("a certificate error is not transient")
	}
	if m := APIMessage(fmt.Errorf("attach: %w", e400)); m != "Invalid volume: volume x already attached" {
		t.Errorf("message %q", m)
	}
	conflict := gophercloud.ErrUnexpectedResponseCode{Actual: 409, Body: []byte(`{"conflictingRequest": {"message": "Cannot 'attach_volume' instance x while it is in task_state rebooting"}}`)}
	if !retryable(conflict, nil) {
		t.Error("a task in progress ends")
	}
	stuck := gophercloud.ErrUnexpectedResponseCode{Actual: 409, Body: []byte(`{"conflictingRequest": {"message": "Cannot 'attach_volume' instance x while it is in vm_state error"}}`)}
	if retryable(stuck, nil) {
		t.Error("a vm_state does not end by itself")
	}
	locked := gophercloud.ErrUnexpectedResponseCode{Actual: 409, Body: []byte(`{"conflictingRequest": {"message": "Instance 6f1c is locked"}}`)}
	if retryable(locked, nil) {
		t.Error("a locked server stays locked")
	}
	if !retryable(e400, &Volume{Status: "attaching"}) || retryable(e400, &Volume{Status: "in-use"}) {
		t.Error("a 400 is retried only while the volume is in transition")
	}
	if DeviceByID("0123456789abcdef0123456789") != "/dev/disk/by-id/virtio-0123456789abcdef0123" {
		t.Error("device_by_id")
	}
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}
