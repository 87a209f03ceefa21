package openstack

import (
	"fmt"
	"sort"
	"strings"
)

// Plan is what the module does, in this order: create, detach, attach,
// delete.
type Plan struct {
	// Warnings are differences the module leaves alone.
	Warnings []string
	Create   bool
	New      CreateVolumeOpts // the volume to create
	Detach   []Server
	Attach   []Server
	Delete   bool
	// Before and After are the attached server names, sorted.
	Before, After []string
}

// Changes reports whether the plan changes anything.
func (p Plan) Changes() bool {
	return p.Create || p.Delete || len(p.Attach) > 0 || len(p.Detach) > 0
}

// PlanVolume decides what the module does from the state read and the
// state wanted, with no I/O. It checks everything that can be checked
// before a change: an error means nothing will be done.
func PlanVolume(h Have, w Want) (Plan, error) {
	var p Plan
	if h.Volume != nil {
		for _, a := range h.Volume.Attachments {
			p.Before = append(p.Before, h.name(a.ServerID))
		}
	}
	sort.Strings(p.Before)
	if w.State == Absent {
		return planAbsent(p, w, h)
	}
	return planPresent(p, w, h)
}

// planAbsent detaches the servers listed (every server when none is), then
// deletes the volume if asked to.
func planAbsent(p Plan, w Want, h Have) (Plan, error) {
	v := h.Volume
	if v == nil {
		return p, nil
	}
	detach := map[string]bool{}
	if w.ServersGiven {
		for _, s := range h.Requested {
			if _, ok := v.AttachedTo(s.ID); ok {
				detach[s.ID] = true
			}
		}
	}
	var remaining []string
	for _, a := range v.Attachments {
		if detach[a.ServerID] || !w.ServersGiven {
			p.Detach = append(p.Detach, Server{ID: a.ServerID, Name: h.Names[a.ServerID]})
		} else {
			remaining = append(remaining, h.name(a.ServerID))
		}
	}
	sortServers(p.Detach)
	sort.Strings(remaining)
	if w.Delete {
		if len(remaining) > 0 {
			return Plan{}, &InputError{fmt.Sprintf("volume %s cannot be deleted: it stays attached to %s, which servers "+
				"does not list; list them too, or omit servers to detach it from every server", describe(v), strings.Join(remaining, ", "))}
		}
		p.Delete = true
	}
	p.After = remaining
	return p, nil
}

// planPresent creates the volume if needed, attaches the servers listed
// that lack it and, with exclusive, detaches the others.
func planPresent(p Plan, w Want, h Have) (Plan, error) {
	v := h.Volume
	var err error
	if p, err = planCreate(p, w, v); err != nil {
		return Plan{}, err
	}
	wanted := map[string]bool{}
	for _, s := range h.Requested {
		wanted[s.ID] = true
		if _, ok := v.AttachedTo(s.ID); !ok {
			if s.Status == "ERROR" || s.Status == "DELETED" {
				return Plan{}, &InputError{fmt.Sprintf("server %s (%s) is in status %s; Nova attaches no volume to it", s.Name, s.ID, s.Status)}
			}
			p.Attach = append(p.Attach, s)
		}
	}
	final := map[string]bool{}
	if v != nil {
		for _, a := range v.Attachments {
			if w.Exclusive && !wanted[a.ServerID] {
				p.Detach = append(p.Detach, Server{ID: a.ServerID, Name: h.Names[a.ServerID]})
				continue
			}
			final[a.ServerID] = true
		}
	}
	sortServers(p.Detach)
	for _, s := range p.Attach {
		final[s.ID] = true
	}
	for id := range final {
		p.After = append(p.After, h.name(id))
	}
	sort.Strings(p.After)
	if len(final) > 1 {
		if err := refuseSingleAttach(w, h, p.After); err != nil {
			return Plan{}, err
		}
	}
	return p, nil
}

// planCreate decides whether the volume is created, and warns about what
// differs in one that exists.
func planCreate(p Plan, w Want, v *Volume) (Plan, error) {
	if v == nil {
		if looksLikeID(w.Volume) {
			return Plan{}, &InputError{fmt.Sprintf("no volume has ID %s; to create a volume, give its name", w.Volume)}
		}
		if w.Size == 0 {
			return Plan{}, &InputError{fmt.Sprintf("volume %q does not exist; give size (GiB) to create it", w.Volume)}
		}
		p.Create = true
		p.New = CreateVolumeOpts{Name: w.Volume, Size: w.Size, VolumeType: w.VolumeType,
			AvailabilityZone: w.AvailabilityZone, Description: w.Description}
		return p, nil
	}
	if strings.HasPrefix(v.Status, "error") || v.Status == "deleting" {
		return Plan{}, &InputError{fmt.Sprintf("volume %s is in status %s; it cannot be attached", describe(v), v.Status)}
	}
	if w.Size != 0 && w.Size != v.Size {
		p.Warnings = append(p.Warnings, fmt.Sprintf("volume %s has %d GiB, not the %d GiB of size; this module does not resize volumes",
			describe(v), v.Size, w.Size))
	}
	if w.VolumeType != "" && w.VolumeType != v.VolumeType && !looksLikeID(w.VolumeType) {
		p.Warnings = append(p.Warnings, fmt.Sprintf("volume %s has volume type %q, not %q; this module does not retype volumes",
			describe(v), v.VolumeType, w.VolumeType))
	}
	return p, nil
}

// refuseSingleAttach refuses to attach a volume that is not multiattach,
// or would not be once created, to the servers of after (more than one).
func refuseSingleAttach(w Want, h Have, after []string) error {
	if v := h.Volume; v != nil && !v.Multiattach {
		return &InputError{fmt.Sprintf("volume %s is not multiattach (its type is %q), so it cannot be attached to %d servers "+
			"(%s): create the volume with a multiattach volume type, one whose extra spec is multiattach=\"<is> True\" "+
			"(openstack volume type create --property multiattach=\"<is> True\" multiattach), or retype it while it is detached",
			describe(v), v.VolumeType, len(after), strings.Join(after, ", "))}
	}
	if h.Volume == nil && !h.NewType.Multiattach() {
		typ := "the cloud's default volume type"
		if h.NewType != nil {
			typ = fmt.Sprintf("volume type %q", h.NewType.Name)
		}
		return &InputError{fmt.Sprintf("volume %q would be created with %s, which is not multiattach (no extra spec "+
			"multiattach=\"<is> True\" visible), so it could not be attached to %d servers (%s): set volume_type to a "+
			"multiattach volume type (openstack volume type create --property multiattach=\"<is> True\" multiattach)",
			w.Volume, typ, len(after), strings.Join(after, ", "))}
	}
	return nil
}

func describe(v *Volume) string {
	if v.Name == "" || v.Name == v.ID {
		return v.ID
	}
	return fmt.Sprintf("%s (%s)", v.Name, v.ID)
}

func sortServers(list []Server) {
	sort.Slice(list, func(i, j int) bool {
		if list[i].Name != list[j].Name {
			return list[i].Name < list[j].Name
		}
		return list[i].ID < list[j].ID
	})
}
