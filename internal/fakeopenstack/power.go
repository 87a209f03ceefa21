package fakeopenstack

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// PowerAction is what a compute host is asked to do with a server's power.
type PowerAction string

// The power actions, one per Nova server action.
const (
	HardReboot PowerAction = "hard-reboot" // {"reboot": {"type": "HARD"}}
	SoftReboot PowerAction = "soft-reboot" // {"reboot": {"type": "SOFT"}}
	PowerOff   PowerAction = "stop"        // {"os-stop": null}
	PowerOn    PowerAction = "start"       // {"os-start": null}
)

// PowerRequest is one power action on one server, as its compute host runs
// it.
type PowerRequest struct {
	Action     PowerAction
	ServerID   string
	ServerName string
	// RequestID is the ID of the API request, which names the server's
	// instance action.
	RequestID string
}

// Nova's task states of the power actions.
const (
	taskRebooting         = "rebooting"
	taskRebootPending     = "reboot_pending"
	taskRebootStarted     = "reboot_started"
	taskRebootingHard     = "rebooting_hard"
	taskRebootPendingHard = "reboot_pending_hard"
	taskRebootStartedHard = "reboot_started_hard"
	taskPoweringOff       = "powering-off"
	taskPoweringOn        = "powering-on"
)

// powerState is a server's side of the power actions: its vm_state once a
// power action changed it, and the compute host's one-at-a-time rule.
type powerState struct {
	vmState string // "" until a power action sets it: derived from Status
	work    sync.Mutex
}

// vmState is the server's OS-EXT-STS:vm_state.
func (s *server) vmState() string {
	if s.power.vmState != "" {
		return s.power.vmState
	}
	if s.Status == "SHUTOFF" {
		return "stopped"
	}
	return strings.ToLower(s.Status)
}

// setState changes vm_state and task_state and the status Nova shows for
// them; c.mu must be held.
func (s *server) setState(vmState, taskState string) {
	s.power.vmState = vmState
	s.TaskState = taskState
	s.Status = statusOf(vmState, taskState)
}

// statusOf is Nova's status for a vm_state and task_state (the power
// actions' part of nova.api.openstack.common's state map).
func statusOf(vmState, taskState string) string {
	switch vmState {
	case "active":
		switch taskState {
		case taskRebooting, taskRebootPending, taskRebootStarted:
			return "REBOOT"
		case taskRebootingHard, taskRebootPendingHard, taskRebootStartedHard:
			return "HARD_REBOOT"
		}
		return "ACTIVE"
	case "stopped":
		switch taskState {
		case taskRebootingHard, taskRebootPendingHard, taskRebootStartedHard:
			return "HARD_REBOOT"
		}
		return "SHUTOFF"
	}
	return strings.ToUpper(vmState)
}

// powerStateOf is OS-EXT-STS:power_state as the hypervisor would report it
// (Nova's numbers: 0 no state, 1 running, 3 paused, 4 shut down, 7
// suspended).
func powerStateOf(vmState string) int {
	switch vmState {
	case "active", "rescued", "resized":
		return 1
	case "paused":
		return 3
	case "stopped":
		return 4
	case "suspended":
		return 7
	}
	return 0
}

// powerRule is what the API checks and sets for one action, as
// nova.compute.api does: the vm_states and task_states it may start from,
// the task_state it sets, the instance action and event it records.
type powerRule struct {
	method           string // the name in Nova's 409 message
	vmStates         []string
	taskStates       []string // "" is no task
	task             string
	pending, started string // the compute host's task states
	action, event    string
}

var powerRules = map[PowerAction]powerRule{
	HardReboot: {
		method:   "reboot",
		vmStates: []string{"active", "stopped", "paused", "suspended", "error"},
		taskStates: []string{"", taskRebooting, taskRebootPending, taskRebootStarted, taskRebootingHard,
			"resuming", "unpausing", "suspending"},
		task: taskRebootingHard, pending: taskRebootPendingHard, started: taskRebootStartedHard,
		action: "reboot", event: "compute_reboot_instance",
	},
	SoftReboot: {
		method: "reboot", vmStates: []string{"active"}, taskStates: []string{""},
		task: taskRebooting, pending: taskRebootPending, started: taskRebootStarted,
		action: "reboot", event: "compute_reboot_instance",
	},
	PowerOff: {
		method: "stop", vmStates: []string{"active", "error"}, taskStates: []string{""},
		task: taskPoweringOff, pending: taskPoweringOff, started: taskPoweringOff,
		action: "stop", event: "compute_stop_instance",
	},
	PowerOn: {
		method: "start", vmStates: []string{"stopped"}, taskStates: []string{""},
		task: taskPoweringOn, pending: taskPoweringOn, started: taskPoweringOn,
		action: "start", event: "compute_start_instance",
	},
}

// serverAction is POST /servers/{id}/action for the power actions: reboot
// (SOFT or HARD), os-stop and os-start.
func (c *Cloud) serverAction(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body) != 1 {
		writeFault(w, http.StatusBadRequest, "Malformed request body")
		return
	}
	var act PowerAction
	for name, raw := range body {
		switch name {
		case "reboot":
			var opts struct {
				Type *string `json:"type"`
			}
			if json.Unmarshal(raw, &opts) != nil || opts.Type == nil {
				writeFault(w, http.StatusBadRequest, "Invalid input for field/attribute reboot. Value: %s. 'type' is a required property", raw)
				return
			}
			// Nova's schema: these six spellings, nothing else.
			if !slices.Contains([]string{"HARD", "Hard", "hard", "SOFT", "Soft", "soft"}, *opts.Type) {
				writeFault(w, http.StatusBadRequest, "Invalid input for field/attribute type. Value: %s. '%s' is not one of "+
					"['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']", *opts.Type, *opts.Type)
				return
			}
			act = SoftReboot
			if strings.EqualFold(*opts.Type, "HARD") {
				act = HardReboot
			}
		case "os-stop":
			act = PowerOff
		case "os-start":
			act = PowerOn
		default:
			writeFault(w, http.StatusBadRequest, "There is no such action: %s", name)
			return
		}
	}
	rule := powerRules[act]

	c.mu.Lock()
	s := c.findServer(r.PathValue("server"))
	if s == nil {
		c.mu.Unlock()
		writeFault(w, http.StatusNotFound, "Instance %s could not be found.", r.PathValue("server"))
		return
	}
	vm := s.vmState()
	if !slices.Contains(rule.vmStates, vm) {
		c.mu.Unlock()
		writeFault(w, http.StatusConflict, "Cannot '%s' instance %s while it is in vm_state %s", rule.method, s.ID, vm)
		return
	}
	if !slices.Contains(rule.taskStates, s.TaskState) {
		c.mu.Unlock()
		writeFault(w, http.StatusConflict, "Cannot '%s' instance %s while it is in task_state %s", rule.method, s.ID, s.TaskState)
		return
	}
	s.setState(vm, rule.task)
	action := c.startAction(s, rule.action, rule.event, requestID(r))
	action.queued = true
	req := PowerRequest{Action: act, ServerID: s.ID, ServerName: s.Name, RequestID: requestID(r)}
	c.mu.Unlock()

	c.background(func() { c.runPower(s, action, rule, req) })
	w.WriteHeader(http.StatusAccepted)
}

// runPower is the compute host's side of a power action: one at a time per
// server, the instance action's event starts when the host takes it up,
// Config.Power does the work, and the states end as Nova leaves them.
func (c *Cloud) runPower(s *server, action *instanceAction, rule powerRule, req PowerRequest) {
	s.power.work.Lock()
	defer s.power.work.Unlock()
	latency := c.cfg.PowerLatency
	// The RPC reaches the compute host.
	if !c.sleep(latency / 4) {
		return
	}
	c.mu.Lock()
	action.queued = false
	s.setState(s.vmState(), rule.pending)
	c.mu.Unlock()
	if !c.sleep(latency / 4) {
		return
	}
	c.mu.Lock()
	s.setState(s.vmState(), rule.started)
	c.mu.Unlock()

	var err error
	if c.cfg.Power != nil {
		err = c.cfg.Power(c.ctx, req)
	}
	if !c.sleep(latency - 2*(latency/4)) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	vm := s.vmState()
	switch {
	case err == nil && req.Action == PowerOff:
		vm = "stopped"
	case err == nil:
		vm = "active"
	case req.Action == HardReboot || req.Action == SoftReboot:
		// A reboot that failed leaves the instance in error
		// (_set_instance_obj_error_state); a failed stop or start only
		// reverts the task state.
		vm = "error"
	}
	s.setState(vm, "")
	c.finishAction(action, err)
}

// SyncPowerState is Nova's power-state sync for one server
// (_sync_instance_power_state): its compute host reports whether the VM
// runs, as a libvirt lifecycle event would. A server with a task, or whose
// power action runs, is left alone. A server that is active while its VM
// is not running (it died by itself), or stopped while its VM runs, is
// stopped through the stop API as Nova's force_stop does: the instance
// action "stop" under a new request ID, Config.Power with PowerOff, and
// SHUTOFF at the end. running is called with the server's power actions
// held off, so that it sees no VM in the middle of one. It reports whether
// a stop started; an unknown server is false.
func (c *Cloud) SyncPowerState(serverID string, running func() bool) bool {
	c.mu.Lock()
	s := c.findServer(serverID)
	c.mu.Unlock()
	if s == nil || !s.power.work.TryLock() {
		return false
	}
	defer s.power.work.Unlock()
	c.mu.Lock()
	vm, idle := s.vmState(), s.TaskState == ""
	c.mu.Unlock()
	if !idle || (vm != "active" && vm != "stopped") {
		return false
	}
	on := running()
	c.mu.Lock()
	defer c.mu.Unlock()
	// An API request may have set a task meanwhile: its action waits
	// for the work lock, and goes first.
	if s.TaskState != "" || s.vmState() != vm || on == (vm == "active") {
		return false
	}
	rule := powerRules[PowerOff]
	s.setState(vm, rule.task)
	id := "req-" + newUUID()
	action := c.startAction(s, rule.action, rule.event, id)
	action.queued = true
	req := PowerRequest{Action: PowerOff, ServerID: s.ID, ServerName: s.Name, RequestID: id}
	c.background(func() { c.runPower(s, action, rule, req) })
	return true
}
