package openstack

import (
	"strings"
	"testing"
)

// A run and check mode report through the same Outcome: a deleted volume
// shows as such, with no device and no attachments, in either.
func TestOutcomeOfADeletion(t *testing.T) {
	w := Want{Volume: "shared", State: Absent, Delete: true}
	h := Have{Volume: vol(true, "a", "b"), Names: map[string]string{"a": "alpha", "b": "beta"}}
	p, err := PlanVolume(h, w)
	if err != nil {
		t.Fatal(err)
	}
	ran := Outcome{Changed: true, Volume: h.Volume, Gone: true, Detached: p.Detach, Deleted: true, Names: h.Names}
	for name, out := range map[string]Outcome{"check mode": predict(h, p), "run": ran} {
		v := out.Values()
		if v["device_by_id"] != "" || v["volume"].(volumeValue).Status != "deleted" || len(v["attachments"].([]attachmentValue)) != 0 ||
			strings.Join(v["detached"].([]string), ",") != "alpha,beta" {
			t.Errorf("%s: values %v", name, v)
		}
	}
	if s := predict(h, p).Summary(w, true); s != "would detach it from alpha, beta; would delete it" {
		t.Errorf("check mode message %q", s)
	}
	if s := ran.Summary(w, false); s != "detached it from alpha, beta; deleted it" {
		t.Errorf("message %q", s)
	}
}

func TestPredictCreateAndAttach(t *testing.T) {
	w := Want{Volume: "shared", State: Present, Size: 2, AvailabilityZone: "nova"}
	h := Have{Requested: []Server{srvB, srvA}, Names: map[string]string{"a": "alpha", "b": "beta"}, NewType: multiType}
	p, err := PlanVolume(h, w)
	if err != nil {
		t.Fatal(err)
	}
	out := predict(h, p)
	v := out.Values()
	vol := v["volume"].(volumeValue)
	if !out.Changed || vol.Name != "shared" || vol.Size != 2 || vol.VolumeType != "multiattach" || !vol.Multiattach {
		t.Errorf("predicted volume %+v", vol)
	}
	var attached []string
	for _, a := range v["attachments"].([]attachmentValue) {
		attached = append(attached, a.ServerName)
	}
	if strings.Join(attached, ",") != "alpha,beta" || len(v["servers"].([]serverValue)) != 2 {
		t.Errorf("attachments %v, servers %v", attached, v["servers"])
	}
	if s := out.Summary(w, true); s != "would create volume shared; would attach it to beta, alpha" {
		t.Errorf("message %q", s)
	}
	if (Outcome{}).Summary(Want{Volume: "shared", State: Absent}, false) != "volume shared is not attached to the given servers" {
		t.Error("message of a run that changed nothing")
	}
}
