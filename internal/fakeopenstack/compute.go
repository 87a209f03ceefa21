package fakeopenstack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type microversion struct{ major, minor int }

func parseMicroversion(s string) (microversion, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 {
		return microversion{}, fmt.Errorf("API Version String %s is of invalid format. Must be of format MajorNum.MinorNum", s)
	}
	return microversion{a, b}, nil
}

func (m microversion) String() string { return fmt.Sprintf("%d.%d", m.major, m.minor) }

func (m microversion) less(o microversion) bool {
	return m.major < o.major || m.major == o.major && m.minor < o.minor
}

func (m microversion) atLeast(major, minor int) bool { return !m.less(microversion{major, minor}) }

var minCompute = microversion{2, 1}

// computeVersionHeader is the requested compute microversion: the generic
// OpenStack-API-Version header wins over Nova's legacy one, as in Nova.
func computeVersionHeader(r *http.Request) string {
	for _, h := range r.Header.Values("OpenStack-API-Version") {
		for _, part := range strings.Split(h, ",") {
			if svc, v, ok := strings.Cut(strings.TrimSpace(part), " "); ok && strings.EqualFold(svc, "compute") {
				return strings.TrimSpace(v)
			}
		}
	}
	return strings.TrimSpace(r.Header.Get("X-OpenStack-Nova-API-Version"))
}

func (c *Cloud) negotiateCompute(r *http.Request) (microversion, int, string) {
	max, _ := parseMicroversion(c.cfg.MaxComputeMicroversion)
	h := computeVersionHeader(r)
	switch {
	case h == "":
		return minCompute, 0, ""
	case strings.EqualFold(h, "latest"):
		return max, 0, ""
	}
	mv, err := parseMicroversion(h)
	if err != nil {
		return mv, http.StatusBadRequest, err.Error() + "."
	}
	if mv.less(minCompute) || max.less(mv) {
		return mv, http.StatusNotAcceptable, fmt.Sprintf(
			"Version %s is not supported by the API. Minimum is %s and maximum is %s.", mv, minCompute, max)
	}
	return mv, 0, ""
}

func requestMicroversion(r *http.Request) microversion {
	mv, ok := r.Context().Value(microversionKey).(microversion)
	if !ok {
		return minCompute
	}
	return mv
}

func (c *Cloud) computeVersionDoc(r *http.Request) map[string]any {
	return map[string]any{
		"id": "v2.1", "status": "CURRENT", "version": c.cfg.MaxComputeMicroversion, "min_version": minCompute.String(),
		"updated":     "2013-07-23T11:33:21Z",
		"links":       []any{map[string]any{"rel": "self", "href": c.base(r) + "/compute/v2.1/"}},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}},
	}
}

func (c *Cloud) computeVersions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{c.computeVersionDoc(r)}})
}

func (c *Cloud) computeVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": c.computeVersionDoc(r)})
}

func (c *Cloud) serverLinks(r *http.Request, id string) []any {
	return []any{
		map[string]any{"rel": "self", "href": c.base(r) + "/compute/v2.1/servers/" + id},
		map[string]any{"rel": "bookmark", "href": c.base(r) + "/compute/servers/" + id},
	}
}

// serverJSON must be called with c.mu held.
func (c *Cloud) serverJSON(r *http.Request, s *server, detail bool) map[string]any {
	out := map[string]any{"id": s.ID, "name": s.Name, "links": c.serverLinks(r, s.ID)}
	if !detail {
		return out
	}
	addresses := map[string]any{}
	for _, network := range sortedKeys(s.Addresses) {
		var list []any
		for _, addr := range s.Addresses[network] {
			list = append(list, map[string]any{"addr": addr, "version": 4, "OS-EXT-IPS:type": "fixed",
				"OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01"})
		}
		addresses[network] = list
	}
	attached := []any{}
	for _, v := range c.volumes {
		for _, a := range v.attachments {
			if a.serverID == s.ID {
				attached = append(attached, map[string]any{"id": v.id, "delete_on_termination": false})
			}
		}
	}
	vmState := s.vmState()
	var taskState any
	if s.TaskState != "" {
		taskState = s.TaskState
	}
	for k, v := range map[string]any{
		"status": s.Status, "tenant_id": c.projectID, "user_id": c.userID, "metadata": map[string]any{},
		"addresses": addresses, "hostId": "", "accessIPv4": "", "accessIPv6": "", "image": "",
		"flavor":  map[string]any{"original_name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20},
		"created": "2024-01-01T00:00:00Z", "updated": "2024-01-01T00:00:00Z",
		"OS-EXT-STS:vm_state": vmState, "OS-EXT-STS:task_state": taskState, "OS-EXT-STS:power_state": powerStateOf(vmState),
		"os-extended-volumes:volumes_attached": attached,
	} {
		out[k] = v
	}
	return out
}

func (c *Cloud) listServers(detail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var filter *regexp.Regexp
		if name := r.URL.Query().Get("name"); name != "" {
			// Nova hands the name filter to the database as a regular
			// expression: unanchored and case-insensitive (MySQL), with
			// every "|" escaped first (_safe_regex_mysql): no alternatives.
			re, err := regexp.Compile("(?i)" + strings.ReplaceAll(name, "|", `\|`))
			if err != nil {
				writeFault(w, http.StatusBadRequest, "Invalid regular expression in name filter: %v", err)
				return
			}
			filter = re
		}
		c.mu.Lock()
		list := []any{}
		for _, s := range c.servers {
			if filter == nil || filter.MatchString(s.Name) {
				list = append(list, c.serverJSON(r, s, detail))
			}
		}
		c.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"servers": list})
	}
}

func (c *Cloud) showServer(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.findServer(r.PathValue("server"))
	if s == nil {
		writeFault(w, http.StatusNotFound, "Instance %s could not be found.", r.PathValue("server"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"server": c.serverJSON(r, s, true)})
}

func attachmentJSON(v *volume, a *attachment, mv microversion) map[string]any {
	out := map[string]any{"device": a.device, "serverId": a.serverID, "volumeId": v.id}
	if !mv.atLeast(2, 89) {
		out["id"] = v.id
	} else {
		out["attachment_id"] = a.id
		out["bdm_uuid"] = a.id
	}
	if mv.atLeast(2, 70) {
		out["tag"] = nil
	}
	if mv.atLeast(2, 79) {
		out["delete_on_termination"] = false
	}
	return out
}

func (c *Cloud) listVolumeAttachments(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.findServer(r.PathValue("server"))
	if s == nil {
		writeFault(w, http.StatusNotFound, "Instance %s could not be found.", r.PathValue("server"))
		return
	}
	list := []any{}
	for _, v := range c.volumes {
		for _, a := range v.attachments {
			if a.serverID == s.ID {
				list = append(list, attachmentJSON(v, a, requestMicroversion(r)))
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"volumeAttachments": list})
}

func (c *Cloud) showVolumeAttachment(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.findServer(r.PathValue("server"))
	if s == nil {
		writeFault(w, http.StatusNotFound, "Instance %s could not be found.", r.PathValue("server"))
		return
	}
	v := c.findVolume(r.PathValue("volume"))
	if a := v.attachmentFor(s.ID); a != nil {
		writeJSON(w, http.StatusOK, map[string]any{"volumeAttachment": attachmentJSON(v, a, requestMicroversion(r))})
		return
	}
	writeFault(w, http.StatusNotFound, "Instance %s is not attached to volume %s", r.PathValue("server"), r.PathValue("volume"))
}

func (v *volume) attachmentFor(serverID string) *attachment {
	if v == nil {
		return nil
	}
	for _, a := range v.attachments {
		if a.serverID == serverID {
			return a
		}
	}
	return nil
}

// settle recomputes the status of a volume with no operation in progress.
func (v *volume) settle() {
	v.status = "available"
	for _, a := range v.attachments {
		if a.attached {
			v.status = "in-use"
		}
	}
	v.updated = time.Now()
}

func nextDevice(used map[string]bool) string {
	// vda is the root disk.
	for ch := 'b'; ch <= 'z'; ch++ {
		d := "/dev/vd" + string(ch)
		if !used[d] {
			return d
		}
	}
	return ""
}

var attachableStates = map[string]bool{"ACTIVE": true, "SHUTOFF": true, "PAUSED": true, "SUSPENDED": true}

func (c *Cloud) attachVolume(w http.ResponseWriter, r *http.Request) {
	var body struct {
		VolumeAttachment *struct {
			VolumeID string `json:"volumeId"`
			Device   string `json:"device"`
		} `json:"volumeAttachment"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.VolumeAttachment == nil || body.VolumeAttachment.VolumeID == "" {
		writeFault(w, http.StatusBadRequest, "Invalid input for field/attribute volumeAttachment. Value: None. 'volumeId' is a required property")
		return
	}
	mv := requestMicroversion(r)

	c.mu.Lock()
	s := c.findServer(r.PathValue("server"))
	if s == nil {
		c.mu.Unlock()
		writeFault(w, http.StatusNotFound, "Instance %s could not be found.", r.PathValue("server"))
		return
	}
	if !attachableStates[statusOf(s.vmState(), "")] {
		c.mu.Unlock()
		writeFault(w, http.StatusConflict, "Cannot 'attach_volume' instance %s while it is in vm_state %s", s.ID, s.vmState())
		return
	}
	if s.TaskState != "" {
		c.mu.Unlock()
		writeFault(w, http.StatusConflict, "Cannot 'attach_volume' instance %s while it is in task_state %s", s.ID, s.TaskState)
		return
	}
	volumeID := body.VolumeAttachment.VolumeID
	v := c.findVolume(volumeID)
	if v == nil {
		c.mu.Unlock()
		writeFault(w, http.StatusNotFound, "Volume %s could not be found.", volumeID)
		return
	}
	if v.multiattach && !mv.atLeast(2, 60) {
		c.mu.Unlock()
		writeFault(w, http.StatusBadRequest, "Multiattach volumes are only supported starting with compute API version 2.60.")
		return
	}
	// Nova's own check (its block device mappings, so attachments in
	// progress too) comes before Cinder's reserve: a volume that is not
	// multiattach may have one server, and the same server never twice.
	if !v.multiattach && len(v.attachments) > 0 {
		ids := make([]string, len(v.attachments))
		for i, a := range v.attachments {
			ids[i] = a.serverID
		}
		c.mu.Unlock()
		writeFault(w, http.StatusBadRequest, "Invalid volume: volume %s is already attached to instances: %s", v.id, strings.Join(ids, " "))
		return
	}
	if v.attachmentFor(s.ID) != nil {
		c.mu.Unlock()
		writeFault(w, http.StatusBadRequest, "Invalid volume: volume %s already attached", v.id)
		return
	}
	// Cinder's attachment reserve.
	allowed := []string{"available", "downloading"}
	if v.multiattach {
		allowed = []string{"available", "in-use", "downloading"}
	}
	if !contains(allowed, v.status) {
		c.mu.Unlock()
		writeFault(w, http.StatusBadRequest, "Invalid input received: Invalid volume: Volume %s status must be %s to reserve, "+
			"but the current status is %s. (HTTP 400) (Request-ID: req-%s)", v.id, strings.Join(allowed, " or "), v.status, newUUID())
		return
	}
	used := map[string]bool{}
	for _, other := range c.volumes {
		if a := other.attachmentFor(s.ID); a != nil {
			used[a.device] = true
		}
	}
	a := &attachment{id: newUUID(), serverID: s.ID, device: nextDevice(used)}
	v.attachments = append(v.attachments, a)
	v.status = "reserved"
	v.updated = time.Now()
	action := c.startAction(s, "attach_volume", "compute_attach_volume", requestID(r))
	hang := c.hang
	hangCh := c.hangCh
	pub := c.publicAttachment(v, a)
	reply := attachmentJSON(v, a, mv)
	c.mu.Unlock()

	c.background(func() { c.completeAttach(v, a, s, action, pub, hang, hangCh) })
	writeJSON(w, http.StatusOK, map[string]any{"volumeAttachment": reply})
}

// completeAttach is the compute host's side of an attach.
func (c *Cloud) completeAttach(v *volume, a *attachment, s *server, action *instanceAction, pub Attachment,
	hang bool, hangCh chan struct{}) {
	latency := c.cfg.AttachLatency
	if !c.sleep(latency / 4) {
		return
	}
	c.mu.Lock()
	v.status = "attaching"
	c.mu.Unlock()
	var err error
	if c.cfg.Attach != nil {
		err = c.cfg.Attach(c.ctx, pub)
	}
	// Cinder marks the attachment attached before the volume in-use (two
	// database updates): for the last twentieth of the latency the volume
	// lists the server while still "attaching", and still refuses reserves.
	settle := latency / 20
	if !c.sleep(latency - latency/4 - settle) {
		return
	}
	if hang {
		select {
		case <-hangCh:
		case <-c.ctx.Done():
			return
		}
	}
	c.mu.Lock()
	if err != nil {
		v.attachments = remove(v.attachments, a)
		v.settle()
		c.finishAction(action, err)
		c.mu.Unlock()
		return
	}
	a.attached = true
	a.attachedAt = time.Now()
	c.mu.Unlock()
	if !c.sleep(settle) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v.settle()
	c.finishAction(action, nil)
}

func (c *Cloud) detachVolume(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	s := c.findServer(r.PathValue("server"))
	if s == nil {
		c.mu.Unlock()
		writeFault(w, http.StatusNotFound, "Instance %s could not be found.", r.PathValue("server"))
		return
	}
	volumeID := r.PathValue("volume")
	v := c.findVolume(volumeID)
	if v == nil {
		c.mu.Unlock()
		writeFault(w, http.StatusNotFound, "Volume %s could not be found.", volumeID)
		return
	}
	a := v.attachmentFor(s.ID)
	if a == nil {
		c.mu.Unlock()
		writeFault(w, http.StatusNotFound, "Instance %s is not attached to volume %s", r.PathValue("server"), volumeID)
		return
	}
	// Cinder's begin_detaching.
	if v.status != "in-use" || !a.attached {
		c.mu.Unlock()
		// Cinder's refusal as Nova wraps it.
		writeFault(w, http.StatusBadRequest, "Invalid volume: Invalid input received: Invalid volume: Unable to detach volume. "+
			"Volume status must be 'in-use' and attach_status must be 'attached' to detach. (HTTP 400) (Request-ID: req-%s)", newUUID())
		return
	}
	v.status = "detaching"
	v.updated = time.Now()
	a.detaching = true
	action := c.startAction(s, "detach_volume", "compute_detach_volume", requestID(r))
	pub := c.publicAttachment(v, a)
	c.mu.Unlock()

	c.background(func() {
		var err error
		if c.cfg.Detach != nil {
			err = c.cfg.Detach(c.ctx, pub)
		}
		if !c.sleep(c.cfg.DetachLatency) {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		a.detaching = false
		if err == nil {
			v.attachments = remove(v.attachments, a)
		}
		v.settle()
		c.finishAction(action, err)
	})
	w.WriteHeader(http.StatusAccepted)
}

// startAction records an instance action; c.mu must be held.
func (c *Cloud) startAction(s *server, action, event, requestID string) *instanceAction {
	a := &instanceAction{action: action, event: event, requestID: requestID, start: time.Now()}
	s.actions = append(s.actions, a)
	return a
}

// finishAction closes an instance action; c.mu must be held.
func (c *Cloud) finishAction(a *instanceAction, err error) {
	a.finish = time.Now()
	a.result = "Success"
	if err != nil {
		a.result = "Error"
		a.details = err.Error()
	}
}

func (c *Cloud) actionJSON(s *server, a *instanceAction, mv microversion, events bool) map[string]any {
	out := map[string]any{
		"action": a.action, "instance_uuid": s.ID, "request_id": a.requestID, "user_id": c.userID,
		"project_id": c.projectID, "start_time": timestamp(a.start), "message": nil,
	}
	if a.result == "Error" {
		out["message"] = "Error"
	}
	if mv.atLeast(2, 58) {
		out["updated_at"] = timestamp(a.start)
		if !a.finish.IsZero() {
			out["updated_at"] = timestamp(a.finish)
		}
	}
	if events && a.queued {
		out["events"] = []any{}
	} else if events {
		ev := map[string]any{"event": a.event, "start_time": timestamp(a.start), "finish_time": nil, "result": nil, "traceback": nil}
		if !a.finish.IsZero() {
			ev["finish_time"] = timestamp(a.finish)
			ev["result"] = a.result
		}
		if mv.atLeast(2, 84) {
			ev["details"] = nil
			if a.details != "" {
				ev["details"] = a.details
			}
		}
		out["events"] = []any{ev}
	}
	return out
}

func (c *Cloud) listInstanceActions(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.findServer(r.PathValue("server"))
	if s == nil {
		writeFault(w, http.StatusNotFound, "Instance %s could not be found.", r.PathValue("server"))
		return
	}
	list := []any{}
	for i := len(s.actions) - 1; i >= 0; i-- {
		list = append(list, c.actionJSON(s, s.actions[i], requestMicroversion(r), false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"instanceActions": list})
}

func (c *Cloud) showInstanceAction(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.findServer(r.PathValue("server"))
	if s == nil {
		writeFault(w, http.StatusNotFound, "Instance %s could not be found.", r.PathValue("server"))
		return
	}
	for _, a := range s.actions {
		if a.requestID == r.PathValue("request") {
			writeJSON(w, http.StatusOK, map[string]any{"instanceAction": c.actionJSON(s, a, requestMicroversion(r), true)})
			return
		}
	}
	writeFault(w, http.StatusNotFound, "Action for request_id %s on instance %s not found", r.PathValue("request"), s.ID)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []*attachment, a *attachment) []*attachment {
	out := list[:0]
	for _, x := range list {
		if x != a {
			out = append(out, x)
		}
	}
	return out
}
