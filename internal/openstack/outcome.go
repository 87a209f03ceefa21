package openstack

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// Outcome is what a run did, or in check mode what it would do. The
// module's return values, changed and message all come from it.
type Outcome struct {
	Changed bool
	// Volume is the volume as last read, or as the plan would leave it;
	// nil when there is none.
	Volume *Volume
	// Gone: the volume no longer exists, and is reported with status
	// "deleted" and no device.
	Gone     bool
	Created  bool
	Attached []Server
	Detached []Server
	// Deleted: the message says the volume was deleted (Cinder accepted
	// the deletion, or the run that asked for it succeeded).
	Deleted bool
	// Servers are the servers of the servers option; Names names every
	// server involved, by ID.
	Servers []Server
	Names   map[string]string
}

// predict is the outcome check mode reports: the state the plan would
// reach.
func predict(h Have, p Plan) Outcome {
	out := Outcome{Changed: p.Changes(), Gone: p.Delete, Created: p.Create, Attached: p.Attach, Detached: p.Detach,
		Deleted: p.Delete, Servers: h.Requested, Names: h.Names}
	if h.Volume != nil {
		copied := *h.Volume
		out.Volume = &copied
	} else if p.Create {
		out.Volume = &Volume{Name: p.New.Name, Size: p.New.Size, AvailabilityZone: p.New.AvailabilityZone}
		if h.NewType != nil {
			out.Volume.VolumeType = h.NewType.Name
			out.Volume.Multiattach = h.NewType.Multiattach()
		}
	}
	if out.Volume == nil {
		return out
	}
	detach := map[string]bool{}
	for _, s := range p.Detach {
		detach[s.ID] = true
	}
	var kept []VolumeAttachment
	for _, a := range out.Volume.Attachments {
		if !detach[a.ServerID] {
			kept = append(kept, a)
		}
	}
	for _, s := range p.Attach {
		kept = append(kept, VolumeAttachment{ServerID: s.ID})
	}
	out.Volume.Attachments = kept
	return out
}

// Summary is the module's message: what was done, or with check what
// would be.
func (r Outcome) Summary(w Want, check bool) string {
	verb := func(done, would string) string {
		if check {
			return would
		}
		return done
	}
	var parts []string
	if r.Created {
		parts = append(parts, verb("created volume ", "would create volume ")+w.Volume)
	}
	if len(r.Detached) > 0 {
		parts = append(parts, verb("detached it from ", "would detach it from ")+strings.Join(names(r.Detached), ", "))
	}
	if len(r.Attached) > 0 {
		parts = append(parts, verb("attached it to ", "would attach it to ")+strings.Join(names(r.Attached), ", "))
	}
	if r.Deleted {
		parts = append(parts, verb("deleted it", "would delete it"))
	}
	if len(parts) > 0 {
		return strings.Join(parts, "; ")
	}
	if w.State == Absent {
		return fmt.Sprintf("volume %s is not attached to the given servers", w.Volume)
	}
	return fmt.Sprintf("volume %s is already attached as requested", w.Volume)
}

// The return values, typed. Fields are in the order of their JSON names,
// the order in which a map of them prints.
type (
	volumeValue struct {
		ID          string `json:"id"`
		Multiattach bool   `json:"multiattach"`
		Name        string `json:"name"`
		Size        int    `json:"size"`
		Status      string `json:"status"`
		VolumeType  string `json:"volume_type"`
	}
	attachmentValue struct {
		AttachmentID string `json:"attachment_id"`
		Device       string `json:"device"`
		ServerID     string `json:"server_id"`
		ServerName   string `json:"server_name"`
	}
	serverValue struct {
		Addresses map[string][]Address `json:"addresses"`
		ID        string               `json:"id"`
		Name      string               `json:"name"`
		Status    string               `json:"status"`
	}
)

// Values are the module's return values.
func (r Outcome) Values() map[string]any {
	out := map[string]any{
		"volume":       nil,
		"attachments":  []attachmentValue{},
		"attached":     names(r.Attached),
		"detached":     names(r.Detached),
		"device_by_id": "",
		"servers":      serverValues(r.Servers),
	}
	if r.Volume == nil {
		return out
	}
	v := *r.Volume
	if r.Gone {
		v.Status, v.Attachments = "deleted", nil
	} else {
		out["device_by_id"] = DeviceByID(v.ID)
	}
	out["volume"] = volumeValue{ID: v.ID, Multiattach: v.Multiattach, Name: v.Name, Size: v.Size, Status: v.Status, VolumeType: v.VolumeType}
	list := make([]attachmentValue, 0, len(v.Attachments))
	for _, a := range v.Attachments {
		list = append(list, attachmentValue{AttachmentID: a.AttachmentID, Device: a.Device, ServerID: a.ServerID, ServerName: r.Names[a.ServerID]})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].ServerName != list[j].ServerName {
			return list[i].ServerName < list[j].ServerName
		}
		return list[i].ServerID < list[j].ServerID
	})
	out["attachments"] = list
	return out
}

func serverValues(list []Server) []serverValue {
	out := make([]serverValue, 0, len(list))
	for _, s := range list {
		addresses := map[string][]Address{}
		for network, list := range s.Addresses {
			addresses[network] = append([]Address{}, list...)
		}
		out = append(out, serverValue{Addresses: addresses, ID: s.ID, Name: s.Name, Status: s.Status})
	}
	return out
}

func names(list []Server) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s.Name != "" {
			out = append(out, s.Name)
		} else {
			out = append(out, s.ID)
		}
	}
	return out
}

func diff(w Want, p Plan) *module.Diff {
	exists := func(b bool) string {
		if b {
			return "present"
		}
		return "absent"
	}
	before := p.Before
	if before == nil {
		before = []string{}
	}
	after := p.After
	if after == nil {
		after = []string{}
	}
	return &module.Diff{
		Before:       map[string]any{"volume": exists(!p.Create), "attached_to": before},
		After:        map[string]any{"volume": exists(!p.Delete), "attached_to": after},
		BeforeHeader: "volume " + w.Volume,
		AfterHeader:  "volume " + w.Volume,
	}
}
