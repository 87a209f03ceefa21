package openstack

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
)

// Server is a Nova server as the module reports it.
type Server struct {
	ID     string
	Name   string
	Status string
	// Addresses maps a network name to the server's addresses on it.
	Addresses map[string][]Address
}

// Address is one server address on one network.
type Address struct {
	Addr    string `json:"addr"`
	Type    string `json:"type"` // fixed or floating
	Version int    `json:"version"`
}

// Volume is a Cinder volume.
type Volume struct {
	ID               string
	Name             string
	Status           string
	Size             int
	Multiattach      bool
	VolumeType       string
	AvailabilityZone string
	// Attachments lists completed attachments only, as Cinder does.
	Attachments []VolumeAttachment
}

// VolumeAttachment is one completed attachment of a volume.
type VolumeAttachment struct {
	ServerID     string
	AttachmentID string
	Device       string
}

// AttachedTo returns the attachment to a server, if the volume has one.
func (v *Volume) AttachedTo(serverID string) (VolumeAttachment, bool) {
	if v == nil {
		return VolumeAttachment{}, false
	}
	for _, a := range v.Attachments {
		if a.ServerID == serverID {
			return a, true
		}
	}
	return VolumeAttachment{}, false
}

// VolumeType is a Cinder volume type.
type VolumeType struct {
	ID         string
	Name       string
	ExtraSpecs map[string]string
}

// Multiattach reports the extra spec Cinder reads to make volumes of this
// type multiattach: multiattach="<is> True".
func (t *VolumeType) Multiattach() bool {
	return t != nil && strings.EqualFold(strings.Join(strings.Fields(t.ExtraSpecs["multiattach"]), " "), "<is> True")
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

func looksLikeID(s string) bool { return uuidPattern.MatchString(s) }

func isNotFound(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusNotFound) }

func volumeFrom(v *volumes.Volume) *Volume {
	out := &Volume{ID: v.ID, Name: v.Name, Status: v.Status, Size: v.Size, Multiattach: v.Multiattach,
		VolumeType: v.VolumeType, AvailabilityZone: v.AvailabilityZone}
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, VolumeAttachment{ServerID: a.ServerID, AttachmentID: a.AttachmentID, Device: a.Device})
	}
	return out
}

// GetVolume reads a volume by ID; nil when it does not exist.
func (c *Clients) GetVolume(ctx context.Context, id string) (*Volume, error) {
	v, err := volumes.Get(ctx, c.Volume, id).Extract()
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read volume %s: %w", id, err)
	}
	return volumeFrom(v), nil
}

// FindVolume finds a volume by ID, or else by exact name; nil when there is
// none. Two volumes with the name are an error: the module could not know
// which one is meant.
func (c *Clients) FindVolume(ctx context.Context, ref string) (*Volume, error) {
	if looksLikeID(ref) {
		v, err := c.GetVolume(ctx, ref)
		if err != nil || v != nil {
			return v, err
		}
	}
	pages, err := volumes.List(c.Volume, volumes.ListOpts{Name: ref}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list volumes named %q: %w", ref, err)
	}
	list, err := volumes.ExtractVolumes(pages)
	if err != nil {
		return nil, fmt.Errorf("list volumes named %q: %w", ref, err)
	}
	var found []*Volume
	for i := range list {
		if list[i].Name == ref {
			found = append(found, volumeFrom(&list[i]))
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, v := range found {
		ids[i] = v.ID
	}
	return nil, fmt.Errorf("volume name %q is ambiguous: %d volumes have it (%s); give the volume ID instead",
		ref, len(found), strings.Join(ids, ", "))
}

// CreateVolumeOpts are the properties of a new volume; the empty ones are
// left to Cinder.
type CreateVolumeOpts struct {
	Name             string
	Size             int // GiB
	VolumeType       string
	AvailabilityZone string
	Description      string
}

// CreateVolume asks Cinder for a new volume; it starts in "creating".
func (c *Clients) CreateVolume(ctx context.Context, opts CreateVolumeOpts) (*Volume, error) {
	v, err := volumes.Create(ctx, c.Volume, volumes.CreateOpts{Name: opts.Name, Size: opts.Size, VolumeType: opts.VolumeType,
		AvailabilityZone: opts.AvailabilityZone, Description: opts.Description}, nil).Extract()
	if err != nil {
		return nil, fmt.Errorf("create volume %s: %s", opts.Name, APIMessage(err))
	}
	return volumeFrom(v), nil
}

// DeleteVolume asks Cinder to delete a volume.
func (c *Clients) DeleteVolume(ctx context.Context, id string) error {
	return volumes.Delete(ctx, c.Volume, id, nil).ExtractErr()
}

// VolumeTypes lists the volume types visible to the user.
func (c *Clients) VolumeTypes(ctx context.Context) ([]VolumeType, error) {
	pages, err := volumetypes.List(c.Volume, nil).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list volume types: %w", err)
	}
	list, err := volumetypes.ExtractVolumeTypes(pages)
	if err != nil {
		return nil, fmt.Errorf("list volume types: %w", err)
	}
	out := make([]VolumeType, len(list))
	for i, t := range list {
		out[i] = VolumeType{ID: t.ID, Name: t.Name, ExtraSpecs: t.ExtraSpecs}
	}
	return out, nil
}

// DefaultVolumeType is the type Cinder gives a volume created without one;
// nil when the cloud has none.
func (c *Clients) DefaultVolumeType(ctx context.Context) (*VolumeType, error) {
	t, err := volumetypes.Get(ctx, c.Volume, "default").Extract()
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the default volume type: %w", err)
	}
	return &VolumeType{ID: t.ID, Name: t.Name, ExtraSpecs: t.ExtraSpecs}, nil
}

func serverFrom(s *servers.Server) Server {
	out := Server{ID: s.ID, Name: s.Name, Status: s.Status, Addresses: map[string][]Address{}}
	for network, raw := range s.Addresses {
		list, _ := raw.([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			a := Address{Type: "fixed"}
			a.Addr, _ = m["addr"].(string)
			if t, ok := m["OS-EXT-IPS:type"].(string); ok {
				a.Type = t
			}
			switch v := m["version"].(type) {
			case float64:
				a.Version = int(v)
			case interface{ Int64() (int64, error) }:
				n, _ := v.Int64()
				a.Version = int(n)
			}
			if a.Addr != "" {
				out.Addresses[network] = append(out.Addresses[network], a)
			}
		}
	}
	return out
}

// GetServer reads a server by ID; nil when it does not exist.
func (c *Clients) GetServer(ctx context.Context, id string) (*Server, error) {
	s, err := servers.Get(ctx, c.Compute, id).Extract()
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read server %s: %w", id, err)
	}
	out := serverFrom(s)
	return &out, nil
}

// minSharedPrefix is the shortest common prefix worth one list request for
// several names; shorter ones could return much of the project.
const minSharedPrefix = 3

// nameFilter is a Nova name filter that finds name (exact) or every name
// starting with it. Nova hands the filter to the database as a regular
// expression, unanchored and (on MySQL) case-insensitive, and escapes "|"
// itself, so alternatives cannot be combined in one filter and QuoteMeta's
// "\|" must go back to "|". The caller matches the answers exactly.
func nameFilter(name string, exact bool) string {
	q := "^" + strings.ReplaceAll(regexp.QuoteMeta(name), `\|`, "|")
	if exact {
		q += "$"
	}
	return q
}

// nameQueries are the name filters that find every name: one for their
// common prefix when it is long enough, else one per name.
func nameQueries(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	if len(names) == 1 {
		return []string{nameFilter(names[0], true)}
	}
	prefix := names[0]
	for _, n := range names[1:] {
		i := 0
		for i < len(prefix) && i < len(n) && prefix[i] == n[i] {
			i++
		}
		prefix = prefix[:i]
	}
	for !utf8.ValidString(prefix) {
		prefix = prefix[:len(prefix)-1]
	}
	if utf8.RuneCountInString(prefix) >= minSharedPrefix {
		return []string{nameFilter(prefix, false)}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = nameFilter(n, true)
	}
	return out
}

// ResolveServers maps server names or IDs to servers, in the given order
// without duplicates. Names are looked up with nameQueries and matched
// exactly here. Every missing or ambiguous name is reported
// together.
func (c *Clients) ResolveServers(ctx context.Context, refs []string) ([]Server, error) {
	byRef, names, err := c.serversByID(ctx, refs)
	if err != nil {
		return nil, err
	}
	byName, err := c.serversByName(ctx, names)
	if err != nil {
		return nil, err
	}
	return pickServers(refs, byRef, byName)
}

// serversByID reads the servers of the refs that look like IDs; the other
// refs, and the IDs no server has, are names to look up.
func (c *Clients) serversByID(ctx context.Context, refs []string) (map[string]Server, []string, error) {
	byRef := map[string]Server{}
	var names []string
	for _, ref := range refs {
		if _, done := byRef[ref]; done || contains(names, ref) {
			continue
		}
		if looksLikeID(ref) {
			s, err := c.GetServer(ctx, ref)
			if err != nil {
				return nil, nil, err
			}
			if s != nil {
				byRef[ref] = *s
				continue
			}
		}
		names = append(names, ref)
	}
	return byRef, names, nil
}

// serversByName lists the servers whose names are exactly one of names.
func (c *Clients) serversByName(ctx context.Context, names []string) (map[string][]Server, error) {
	byName := map[string][]Server{}
	seenID := map[string]bool{}
	for _, filter := range nameQueries(names) {
		pages, err := servers.List(c.Compute, servers.ListOpts{Name: filter}).AllPages(ctx)
		if err != nil {
			return nil, fmt.Errorf("list servers by name (%s): %w", filter, err)
		}
		list, err := servers.ExtractServers(pages)
		if err != nil {
			return nil, fmt.Errorf("list servers by name (%s): %w", filter, err)
		}
		for i := range list {
			if contains(names, list[i].Name) && !seenID[list[i].ID] {
				seenID[list[i].ID] = true
				byName[list[i].Name] = append(byName[list[i].Name], serverFrom(&list[i]))
			}
		}
	}
	return byName, nil
}

// pickServers is the server of every ref, in order and once each, or an
// error naming every ref that matches no server or several.
func pickServers(refs []string, byRef map[string]Server, byName map[string][]Server) ([]Server, error) {
	var out []Server
	seen := map[string]bool{}
	var missing, ambiguous []string
	for _, ref := range refs {
		s, ok := byRef[ref]
		if !ok {
			switch matches := byName[ref]; len(matches) {
			case 0:
				if !contains(missing, ref) {
					missing = append(missing, ref)
				}
				continue
			case 1:
				s = matches[0]
			default:
				if msg := ambiguousName(ref, matches); !contains(ambiguous, msg) {
					ambiguous = append(ambiguous, msg)
				}
				continue
			}
		}
		if !seen[s.ID] {
			seen[s.ID] = true
			out = append(out, s)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("no server named %s (names match exactly, case included)", quoteList(missing)))
	}
	if len(ambiguous) > 0 {
		problems = append(problems, "ambiguous server name: "+strings.Join(ambiguous, "; ")+"; give server IDs instead")
	}
	if len(problems) > 0 {
		return nil, &InputError{strings.Join(problems, "; ")}
	}
	return out, nil
}

func ambiguousName(ref string, matches []Server) string {
	ids := make([]string, len(matches))
	for i, m := range matches {
		ids[i] = m.ID
	}
	sort.Strings(ids)
	return fmt.Sprintf("%q matches %d servers (%s)", ref, len(matches), strings.Join(ids, ", "))
}

// InputError is a problem with what the user asked for; nothing has changed.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// Attach asks Nova to attach the volume to the server; it returns the
// request ID, which names the server's instance action.
func (c *Clients) Attach(ctx context.Context, serverID, volumeID string) (string, error) {
	r := volumeattach.Create(ctx, c.Compute, serverID, volumeattach.CreateOpts{VolumeID: volumeID})
	if r.Err != nil {
		return "", r.Err
	}
	return requestID(r.Header), nil
}

// Detach asks Nova to detach the volume from the server.
func (c *Clients) Detach(ctx context.Context, serverID, volumeID string) (string, error) {
	r := volumeattach.Delete(ctx, c.Compute, serverID, volumeID)
	if r.Err != nil {
		return "", r.Err
	}
	return requestID(r.Header), nil
}

func requestID(h http.Header) string {
	if id := h.Get("X-Openstack-Request-Id"); id != "" {
		return id
	}
	return h.Get("X-Compute-Request-Id")
}

// NovaAttached reports whether Nova still has the volume attachment
// (complete or in progress) on the server.
func (c *Clients) NovaAttached(ctx context.Context, serverID, volumeID string) (bool, error) {
	_, err := volumeattach.Get(ctx, c.Compute, serverID, volumeID).Extract()
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the attachment of volume %s on server %s: %w", volumeID, serverID, err)
	}
	return true, nil
}

// ActionFailure tells why an instance action failed, as far as Nova says:
// the event details at microversion 2.84 or later, else its result.
func (c *Clients) ActionFailure(ctx context.Context, serverID, requestID string) string {
	if requestID == "" {
		return ""
	}
	client := c.Compute
	if c.ComputeDetails != nil {
		client = c.ComputeDetails
	}
	var action struct {
		Message string `json:"message"`
		Events  []struct {
			Event   string  `json:"event"`
			Result  string  `json:"result"`
			Details *string `json:"details"`
		} `json:"events"`
	}
	if err := instanceactions.Get(ctx, client, serverID, requestID).ExtractInto(&action); err != nil {
		return ""
	}
	for _, e := range action.Events {
		if e.Details != nil && *e.Details != "" {
			return *e.Details
		}
	}
	for _, e := range action.Events {
		if e.Result != "" && e.Result != "Success" {
			return fmt.Sprintf("event %s: %s", e.Event, e.Result)
		}
	}
	return action.Message
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
