package openstack

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// DeviceByID is the stable path of the volume in a guest: the virtio serial
// is the volume ID, which udev cuts to 20 characters.
func DeviceByID(volumeID string) string {
	if volumeID == "" {
		return ""
	}
	serial := volumeID
	if len(serial) > 20 {
		serial = serial[:20]
	}
	return "/dev/disk/by-id/virtio-" + serial
}

// Run is the multiattach_volume module.
func Run(ctx context.Context, req *module.Request) (*module.Result, error) {
	o, err := OptionsFromParams(req.Params)
	if err != nil {
		return nil, module.Failf("%v", err)
	}
	registerSecrets(o.Conn.Cloud, req.AddSecret)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	clients, err := Connect(ctx, o.Conn, req.AddSecret)
	if err != nil {
		if ctx.Err() != nil {
			return nil, module.Failf("timed out after %s connecting to the cloud: %v", o.Timeout, err)
		}
		return nil, module.Failf("%v", err)
	}
	return run(ctx, req, o, clients)
}

// registerSecrets masks the credentials of a cloud given as a dict: the
// option itself is not no_log (openstack.cloud's spec), its secrets are.
func registerSecrets(v any, add func(string)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			switch k {
			case "password", "token", "application_credential_secret", "secret", "key":
				if text, ok := module.SecretText(x); ok {
					add(text)
				}
			}
			registerSecrets(x, add)
		}
	case []any:
		for _, x := range t {
			registerSecrets(x, add)
		}
	}
}

func run(ctx context.Context, req *module.Request, o Options, c *Clients) (*module.Result, error) {
	fail := func(err error) (*module.Result, error) {
		if ctx.Err() != nil {
			return nil, module.Failf("timed out after %s: %v", o.Timeout, err)
		}
		return nil, module.Failf("%v", err)
	}
	vol, err := c.FindVolume(ctx, o.Volume)
	if err != nil {
		return fail(err)
	}
	if o.State == Absent && vol == nil {
		return &module.Result{Msg: fmt.Sprintf("volume %q does not exist", o.Volume), Values: values(nil, nil, nil, nil, nil)}, nil
	}

	cur := Current{Volume: vol, Names: map[string]string{}}
	if len(o.Servers) > 0 {
		cur.Requested, err = c.ResolveServers(ctx, o.Servers)
		if err != nil {
			return fail(err)
		}
	}
	for _, s := range cur.Requested {
		cur.Names[s.ID] = s.Name
	}
	if vol != nil {
		for _, a := range vol.Attachments {
			if _, known := cur.Names[a.ServerID]; known {
				continue
			}
			s, err := c.GetServer(ctx, a.ServerID)
			if err != nil {
				return fail(err)
			}
			cur.Names[a.ServerID] = ""
			if s != nil {
				cur.Names[a.ServerID] = s.Name
			}
		}
	}
	if vol == nil && o.State == Present {
		cur.NewType, err = newVolumeType(ctx, c, o.VolumeType)
		if err != nil {
			return fail(err)
		}
	}

	plan, err := Decide(o, cur)
	if err != nil {
		return fail(err)
	}
	res := &module.Result{Changed: plan.Changes(), Warnings: plan.Warnings}
	if req.Diff {
		res.Diff = diff(o, plan)
	}
	if req.CheckMode {
		res.Msg = summary(o, plan.Create, plan.Attach, plan.Detach, plan.Delete, true)
		res.Values = predicted(o, cur, plan)
		return res, nil
	}

	e := &engine{c: c, wait: o.Wait, timeout: o.Timeout}
	applyErr := e.apply(ctx, plan, o, cur)
	final := e.volume
	if applyErr == nil && final != nil && !e.deleted && ctx.Err() == nil {
		if v, err := c.GetVolume(ctx, final.ID); err == nil && v != nil {
			final = v
		}
	}
	vals := values(final, cur.Names, cur.Requested, e.attached, e.detached)
	if e.deleted {
		deleted := *final
		deleted.Status, deleted.Attachments = "deleted", nil
		vals = values(&deleted, cur.Names, cur.Requested, e.attached, e.detached)
		vals["device_by_id"] = ""
	}
	res.Changed = e.changed
	res.Values = vals
	if applyErr != nil {
		msg := applyErr.Error()
		if e.changed {
			msg += " (done before the failure: " + summary(o, plan.Create, e.attached, e.detached, e.deleting, false) + ")"
		}
		return res, &module.Failure{Msg: msg, Changed: e.changed, Values: vals, Err: applyErr}
	}
	res.Msg = summary(o, plan.Create, e.attached, e.detached, e.deleted || plan.Delete, false)
	return res, nil
}

// newVolumeType finds the type a new volume gets: the given one (name or
// ID), or the cloud's default.
func newVolumeType(ctx context.Context, c *Clients, ref string) (*VolumeType, error) {
	if ref == "" {
		return c.DefaultVolumeType(ctx)
	}
	types, err := c.VolumeTypes(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range types {
		if types[i].ID == ref || types[i].Name == ref {
			return &types[i], nil
		}
		names = append(names, types[i].Name)
	}
	sort.Strings(names)
	return nil, &InputError{fmt.Sprintf("volume type %q does not exist (visible types: %s)", ref, strings.Join(names, ", "))}
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

func summary(o Options, created bool, attached, detached []Server, deleted, check bool) string {
	var parts []string
	verb := func(done, would string) string {
		if check {
			return would
		}
		return done
	}
	if created {
		parts = append(parts, verb("created volume ", "would create volume ")+o.Volume)
	}
	if len(detached) > 0 {
		parts = append(parts, verb("detached it from ", "would detach it from ")+strings.Join(names(detached), ", "))
	}
	if len(attached) > 0 {
		parts = append(parts, verb("attached it to ", "would attach it to ")+strings.Join(names(attached), ", "))
	}
	if deleted {
		parts = append(parts, verb("deleted it", "would delete it"))
	}
	if len(parts) == 0 {
		if o.State == Absent {
			return fmt.Sprintf("volume %s is not attached to the given servers", o.Volume)
		}
		return fmt.Sprintf("volume %s is already attached as requested", o.Volume)
	}
	return strings.Join(parts, "; ")
}

func diff(o Options, p Plan) *module.Diff {
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
		BeforeHeader: "volume " + o.Volume,
		AfterHeader:  "volume " + o.Volume,
	}
}

// predicted is what check mode reports: the state the plan would reach.
func predicted(o Options, cur Current, p Plan) map[string]any {
	var v *Volume
	if cur.Volume != nil {
		copied := *cur.Volume
		v = &copied
	} else if p.Create {
		v = &Volume{Name: o.Volume, Size: o.Size, AvailabilityZone: o.AvailabilityZone}
		if cur.NewType != nil {
			v.VolumeType = cur.NewType.Name
			v.Multiattach = cur.NewType.Multiattach()
		}
	}
	if v != nil {
		detach := map[string]bool{}
		for _, s := range p.Detach {
			detach[s.ID] = true
		}
		var kept []VolumeAttachment
		for _, a := range v.Attachments {
			if !detach[a.ServerID] {
				kept = append(kept, a)
			}
		}
		for _, s := range p.Attach {
			kept = append(kept, VolumeAttachment{ServerID: s.ID})
		}
		v.Attachments = kept
		if p.Delete {
			v.Status, v.Attachments = "deleted", nil
		}
	}
	vals := values(v, cur.Names, cur.Requested, p.Attach, p.Detach)
	if p.Delete {
		vals["device_by_id"] = ""
	}
	return vals
}

// values are the module's return values.
func values(v *Volume, serverNames map[string]string, requested, attached, detached []Server) map[string]any {
	out := map[string]any{
		"volume":       nil,
		"attachments":  []any{},
		"attached":     names(attached),
		"detached":     names(detached),
		"device_by_id": "",
		"servers":      []any{},
	}
	for _, s := range requested {
		addresses := map[string]any{}
		for network, list := range s.Addresses {
			items := make([]any, len(list))
			for i, a := range list {
				items[i] = map[string]any{"addr": a.Addr, "version": a.Version, "type": a.Type}
			}
			addresses[network] = items
		}
		out["servers"] = append(out["servers"].([]any), map[string]any{
			"id": s.ID, "name": s.Name, "status": s.Status, "addresses": addresses})
	}
	if v == nil {
		return out
	}
	out["volume"] = map[string]any{
		"id": v.ID, "name": v.Name, "size": v.Size, "status": v.Status,
		"multiattach": v.Multiattach, "volume_type": v.VolumeType,
	}
	out["device_by_id"] = DeviceByID(v.ID)
	list := make([]map[string]any, 0, len(v.Attachments))
	for _, a := range v.Attachments {
		list = append(list, map[string]any{"server_id": a.ServerID, "server_name": serverNames[a.ServerID],
			"device": a.Device, "attachment_id": a.AttachmentID})
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a["server_name"] != b["server_name"] {
			return a["server_name"].(string) < b["server_name"].(string)
		}
		return a["server_id"].(string) < b["server_id"].(string)
	})
	items := make([]any, len(list))
	for i := range list {
		items[i] = list[i]
	}
	out["attachments"] = items
	return out
}
