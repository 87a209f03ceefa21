package fakeopenstack

import (
	"encoding/json"
	"net/http"
	"time"
)

func (c *Cloud) volumeVersionDoc(r *http.Request) map[string]any {
	return map[string]any{
		"id": "v3.0", "status": "CURRENT", "version": "3.71", "min_version": "3.0", "updated": "2023-08-31T00:00:00Z",
		"links":       []any{map[string]any{"rel": "self", "href": c.base(r) + "/volume/v3/"}},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}},
	}
}

func (c *Cloud) volumeVersions(w http.ResponseWriter, r *http.Request) {
	status := http.StatusMultipleChoices
	if r.URL.Path != "/volume" && r.URL.Path != "/volume/" {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"versions": []any{c.volumeVersionDoc(r)}})
}

// projectOK checks the project in a Cinder URL against the token's.
func (c *Cloud) projectOK(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("project") != c.projectID {
		writeFault(w, http.StatusNotFound, "Project %s in the URL is not the project of the token.", r.PathValue("project"))
		return false
	}
	return true
}

// volumeJSON must be called with c.mu held.
func (c *Cloud) volumeJSON(r *http.Request, v *volume, detail bool) map[string]any {
	links := []any{
		map[string]any{"rel": "self", "href": c.base(r) + "/volume/v3/" + c.projectID + "/volumes/" + v.id},
		map[string]any{"rel": "bookmark", "href": c.base(r) + "/volume/" + c.projectID + "/volumes/" + v.id},
	}
	out := map[string]any{"id": v.id, "name": v.name, "links": links}
	if !detail {
		return out
	}
	// Cinder lists only completed attachments.
	attachments := []any{}
	for _, a := range v.attachments {
		if a.attached {
			attachments = append(attachments, map[string]any{
				"id": v.id, "attachment_id": a.id, "volume_id": v.id, "server_id": a.serverID,
				"host_name": nil, "device": a.device, "attached_at": timestamp(a.attachedAt),
			})
		}
	}
	typeName := ""
	if t := c.findType(v.typeID); t != nil {
		typeName = t.Name
	}
	var description any
	if v.description != "" {
		description = v.description
	}
	for k, x := range map[string]any{
		"status": v.status, "size": v.size, "availability_zone": v.az, "created_at": timestamp(v.created),
		"updated_at": timestamp(v.updated), "attachments": attachments, "description": description,
		"volume_type": typeName, "multiattach": v.multiattach, "bootable": "false", "encrypted": false,
		"metadata": map[string]any{}, "snapshot_id": nil, "source_volid": nil, "replication_status": nil,
		"consistencygroup_id": nil, "user_id": c.userID,
	} {
		out[k] = x
	}
	return out
}

func (c *Cloud) listVolumes(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !c.projectOK(w, r) {
			return
		}
		q := r.URL.Query()
		c.mu.Lock()
		list := []any{}
		for _, v := range c.volumes {
			// Cinder's name filter is an exact match.
			if q.Has("name") && v.name != q.Get("name") || q.Has("status") && v.status != q.Get("status") {
				continue
			}
			list = append(list, c.volumeJSON(r, v, detail))
		}
		c.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"volumes": list})
	}
}

func (c *Cloud) showVolume(w http.ResponseWriter, r *http.Request) {
	if !c.projectOK(w, r) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.findVolume(r.PathValue("volume"))
	if v == nil {
		writeFault(w, http.StatusNotFound, "Volume %s could not be found.", r.PathValue("volume"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume": c.volumeJSON(r, v, true)})
}

func (c *Cloud) createVolume(w http.ResponseWriter, r *http.Request) {
	if !c.projectOK(w, r) {
		return
	}
	var body struct {
		Volume *struct {
			Size             json.Number `json:"size"`
			Name             string      `json:"name"`
			Description      string      `json:"description"`
			VolumeType       string      `json:"volume_type"`
			AvailabilityZone string      `json:"availability_zone"`
		} `json:"volume"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Volume == nil {
		writeFault(w, http.StatusBadRequest, "Missing required element 'volume' in request body.")
		return
	}
	req := body.Volume
	size, err := req.Size.Int64()
	if err != nil || size < 1 {
		writeFault(w, http.StatusBadRequest, "Invalid input received: Volume size '%s' must be an integer and greater than 0", req.Size)
		return
	}
	az := req.AvailabilityZone
	if az == "" {
		az = "nova"
	}
	if az != "nova" {
		writeFault(w, http.StatusBadRequest, "Invalid input received: Availability zone '%s' is invalid.", az)
		return
	}
	c.mu.Lock()
	typeName := req.VolumeType
	if typeName == "" {
		typeName = c.cfg.DefaultVolumeType
	}
	t := c.findType(typeName)
	if t == nil {
		c.mu.Unlock()
		writeFault(w, http.StatusNotFound, "Volume type with name %s could not be found.", typeName)
		return
	}
	now := time.Now()
	v := &volume{id: newUUID(), name: req.Name, description: req.Description, az: az, typeID: t.ID, size: int(size),
		status: "creating", multiattach: t.Multiattach(), created: now, updated: now}
	c.volumes = append(c.volumes, v)
	reply := c.volumeJSON(r, v, true)
	c.mu.Unlock()

	c.background(func() {
		if !c.sleep(c.cfg.CreateLatency) {
			return
		}
		c.mu.Lock()
		v.status = "available"
		v.updated = time.Now()
		c.mu.Unlock()
	})
	writeJSON(w, http.StatusAccepted, map[string]any{"volume": reply})
}

var deletableStates = map[string]bool{"available": true, "error": true, "error_restoring": true,
	"error_extending": true, "error_managing": true}

func (c *Cloud) deleteVolume(w http.ResponseWriter, r *http.Request) {
	if !c.projectOK(w, r) {
		return
	}
	c.mu.Lock()
	v := c.findVolume(r.PathValue("volume"))
	if v == nil {
		c.mu.Unlock()
		writeFault(w, http.StatusNotFound, "Volume %s could not be found.", r.PathValue("volume"))
		return
	}
	if !deletableStates[v.status] || len(v.attachments) > 0 {
		c.mu.Unlock()
		writeFault(w, http.StatusBadRequest, "Invalid volume: Volume status must be available or error or error_restoring "+
			"or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, "+
			"awaiting a transfer, or be disassociated from snapshots after volume transfer.")
		return
	}
	v.status = "deleting"
	v.updated = time.Now()
	c.mu.Unlock()

	c.background(func() {
		if !c.sleep(c.cfg.DeleteLatency) {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		out := c.volumes[:0]
		for _, x := range c.volumes {
			if x != v {
				out = append(out, x)
			}
		}
		c.volumes = out
	})
	w.WriteHeader(http.StatusAccepted)
}

func typeJSON(t *VolumeType) map[string]any {
	specs := map[string]any{}
	for k, v := range t.ExtraSpecs {
		specs[k] = v
	}
	return map[string]any{"id": t.ID, "name": t.Name, "description": nil, "is_public": true,
		"os-volume-type-access:is_public": true, "extra_specs": specs, "qos_specs_id": nil}
}

func (c *Cloud) listTypes(w http.ResponseWriter, r *http.Request) {
	if !c.projectOK(w, r) {
		return
	}
	c.mu.Lock()
	list := []any{}
	for _, t := range c.types {
		list = append(list, typeJSON(t))
	}
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"volume_types": list})
}

// lookupType is GET /types/{id}: an ID, or "default".
func (c *Cloud) lookupType(w http.ResponseWriter, r *http.Request) *VolumeType {
	if !c.projectOK(w, r) {
		return nil
	}
	id := r.PathValue("type")
	if id == "default" {
		id = c.cfg.DefaultVolumeType
	}
	c.mu.Lock()
	t := c.findType(id)
	c.mu.Unlock()
	if t == nil {
		writeFault(w, http.StatusNotFound, "Volume type %s could not be found.", r.PathValue("type"))
	}
	return t
}

func (c *Cloud) showType(w http.ResponseWriter, r *http.Request) {
	if t := c.lookupType(w, r); t != nil {
		writeJSON(w, http.StatusOK, map[string]any{"volume_type": typeJSON(t)})
	}
}

func (c *Cloud) typeExtraSpecs(w http.ResponseWriter, r *http.Request) {
	if t := c.lookupType(w, r); t != nil {
		writeJSON(w, http.StatusOK, map[string]any{"extra_specs": typeJSON(t)["extra_specs"]})
	}
}
