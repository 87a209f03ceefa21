package openstack

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Have is the state the plan starts from, as read from the cloud.
type Have struct {
	// Volume is nil when it does not exist.
	Volume *Volume
	// Requested are the servers of the servers option, resolved, in order.
	Requested []Server
	// Names maps the ID of every server in Requested or attached to the
	// volume to its name ("" for a server Nova no longer knows).
	Names map[string]string
	// NewType is the type a volume to be created would get (the volume_type
	// option, or the cloud's default type); nil when unknown.
	NewType *VolumeType
}

// name is a server's name, or its ID when it has none.
func (h Have) name(id string) string {
	if n := h.Names[id]; n != "" {
		return n
	}
	return id
}

// Read reads what the plan needs: the volume, the servers asked for, the
// names of the servers the volume is attached to, and the type a volume to
// be created would get. Nothing but the volume is read when it is to be
// absent and does not exist.
func Read(ctx context.Context, c *Clients, w Want) (Have, error) {
	vol, err := c.FindVolume(ctx, w.Volume)
	if err != nil {
		return Have{}, err
	}
	h := Have{Volume: vol, Names: map[string]string{}}
	if w.State == Absent && vol == nil {
		return h, nil
	}
	if len(w.Servers) > 0 {
		if h.Requested, err = c.ResolveServers(ctx, w.Servers); err != nil {
			return Have{}, err
		}
	}
	for _, s := range h.Requested {
		h.Names[s.ID] = s.Name
	}
	if err := h.readAttachedNames(ctx, c); err != nil {
		return Have{}, err
	}
	if vol == nil && w.State == Present {
		if h.NewType, err = newVolumeType(ctx, c, w.VolumeType); err != nil {
			return Have{}, err
		}
	}
	return h, nil
}

// readAttachedNames names the servers the volume is attached to that were
// not asked for.
func (h Have) readAttachedNames(ctx context.Context, c *Clients) error {
	if h.Volume == nil {
		return nil
	}
	for _, a := range h.Volume.Attachments {
		if _, known := h.Names[a.ServerID]; known {
			continue
		}
		s, err := c.GetServer(ctx, a.ServerID)
		if err != nil {
			return err
		}
		h.Names[a.ServerID] = ""
		if s != nil {
			h.Names[a.ServerID] = s.Name
		}
	}
	return nil
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
