package fence

import (
	"fmt"
	"slices"
	"strings"
)

// Server is what Nova shows of a server, as plain data.
type Server struct {
	ID     string
	Name   string
	Status string // ACTIVE, SHUTOFF, HARD_REBOOT, ERROR, ...
	// TaskState is OS-EXT-STS:task_state, "" when no task runs.
	TaskState string
	// PowerState is OS-EXT-STS:power_state: 1 running, 4 shut down, ...
	PowerState int
}

// Nova's power_state for a running instance.
const powerRunning = 1

// certainlyOff reports a server Nova has stopped and that no task is
// changing: vm_state stopped shows as SHUTOFF, and the hypervisor does not
// report it running (a server started behind Nova's back shows SHUTOFF
// with power_state running until Nova's power sync stops it).
func (s Server) certainlyOff() bool {
	return s.Status == "SHUTOFF" && s.TaskState == "" && s.PowerState != powerRunning
}

func (s Server) settledActive() bool { return s.Status == "ACTIVE" && s.TaskState == "" }

func (s Server) String() string {
	if s.TaskState == "" {
		return s.Status
	}
	return fmt.Sprintf("%s (task_state %s)", s.Status, s.TaskState)
}

// Request is the instance action Nova recorded for this run's request.
type Request struct {
	ID string // the request ID of the accepted POST
	// Found is false until Nova shows the action.
	Found  bool
	Events []Event
}

// Event is one event of an instance action.
type Event struct {
	Name     string
	Finished bool
	Result   string // Success or Error once finished
	Details  string // why it failed, at microversion 2.84 or later
}

// failure is the first finished event that did not succeed.
func (r *Request) failure() (Event, bool) {
	if r == nil {
		return Event{}, false
	}
	for _, e := range r.Events {
		if e.Finished && e.Result != "Success" {
			return e, true
		}
	}
	return Event{}, false
}

// succeeded reports a request whose events all finished in Success. An
// action without events has not reached the compute host yet.
func (r *Request) succeeded() bool {
	if r == nil || !r.Found || len(r.Events) == 0 {
		return false
	}
	for _, e := range r.Events {
		if !e.Finished || e.Result != "Success" {
			return false
		}
	}
	return true
}

func (r *Request) String() string {
	switch {
	case r == nil:
		return "no request sent"
	case r.ID == "":
		return "request sent (Nova gave no request ID)"
	case !r.Found:
		return fmt.Sprintf("request %s not recorded yet", r.ID)
	case len(r.Events) == 0:
		return fmt.Sprintf("request %s waiting for the compute host", r.ID)
	}
	var parts []string
	for _, e := range r.Events {
		state := "running"
		if e.Finished {
			state = e.Result
		}
		parts = append(parts, e.Name+" "+state)
	}
	return fmt.Sprintf("request %s: %s", r.ID, strings.Join(parts, ", "))
}

// Observation is one read of the state: the server (nil when Nova does not
// know it) and this run's request (nil until Nova accepted one).
type Observation struct {
	Server  *Server
	Request *Request
}

// StepKind is what to do next.
type StepKind int

// The steps.
const (
	Wait StepKind = iota // read again later
	Send                 // send the action's request
	Done                 // success: exit 0
	Fail                 // failure: exit non-zero
)

func (k StepKind) String() string {
	return [...]string{"wait", "send", "done", "fail"}[k]
}

// Outcome is how a power action succeeded, in fence-agents' words
// ("Success: Rebooted").
type Outcome string

// The outcomes.
const (
	AlreadyOff Outcome = "Already OFF"
	AlreadyOn  Outcome = "Already ON"
	PoweredOff Outcome = "Powered OFF"
	PoweredOn  Outcome = "Powered ON"
	Rebooted   Outcome = "Rebooted"
)

// Step is a decision, its reason (a sentence for the log) and, for Done,
// the outcome.
type Step struct {
	Kind    StepKind
	Why     string
	Outcome Outcome
}

// hardRebootable are the statuses Nova hard-reboots from (vm_states
// active, stopped, paused, suspended, error); a hard reboot discards a
// paused or suspended instance's memory, so it fences those too.
var hardRebootable = []string{"ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "ERROR"}

// Decide is the whole rule of the agent for on, off and reboot, with no
// I/O: given what Nova shows now, wait, send the request, or end.
//
// A run sends at most one accepted request and counts only that request:
// a hard reboot that was already running when the agent came (status
// HARD_REBOOT) proves nothing about the instance dlm saw fail, as it may
// have booted again before the failure. The agent sends its own; Nova
// accepts a hard reboot while another is only queued (task_state
// rebooting_hard) and answers 409 once the compute host has taken it up,
// and the agent retries until it is accepted or the timeout ends.
func Decide(a Action, o Observation) Step {
	s, r := o.Server, o.Request
	if s == nil {
		return Step{Kind: Fail, Why: "Nova has no such server, or does not show it to this credential"}
	}
	if e, failed := r.failure(); failed {
		why := e.Details
		if why == "" {
			why = "event " + e.Name + ": " + e.Result
		}
		return Step{Kind: Fail, Why: fmt.Sprintf("Nova reports the %s failed on the compute host (%s); the server is %s", a.request(), why, s)}
	}
	switch a {
	case Off:
		return decideOff(*s, r)
	case On:
		return decideOn(*s, r)
	case Reboot:
		return decideReboot(*s, r)
	}
	return Step{Kind: Fail, Why: fmt.Sprintf("action %s is not a power action", a)}
}

func decideOff(s Server, r *Request) Step {
	switch {
	case s.certainlyOff() && r == nil:
		return Step{Kind: Done, Why: "the server is already SHUTOFF", Outcome: AlreadyOff}
	case s.certainlyOff():
		return Step{Kind: Done, Why: "the server is SHUTOFF", Outcome: PoweredOff}
	case r.succeeded() && s.TaskState == "":
		return Step{Kind: Fail, Why: fmt.Sprintf("Nova reports the stop finished, but the server is %s: started again since?", s)}
	case r != nil || s.TaskState != "":
		return Step{Kind: Wait, Why: fmt.Sprintf("server %s, %s", s, r)}
	case s.Status == "ACTIVE" || s.Status == "ERROR":
		return Step{Kind: Send, Why: "stopping the server (os-stop)"}
	case s.Status == "SHUTOFF":
		return Step{Kind: Wait, Why: "the server is SHUTOFF but its hypervisor reports it running; waiting for Nova's power sync"}
	}
	return Step{Kind: Fail, Why: fmt.Sprintf("Nova cannot stop a server in status %s (a paused or suspended instance keeps its memory: use action=reboot)", s.Status)}
}

func decideOn(s Server, r *Request) Step {
	switch {
	case s.settledActive() && r == nil:
		return Step{Kind: Done, Why: "the server is already ACTIVE", Outcome: AlreadyOn}
	case s.settledActive():
		return Step{Kind: Done, Why: "the server is ACTIVE", Outcome: PoweredOn}
	case r.succeeded() && s.TaskState == "":
		return Step{Kind: Fail, Why: fmt.Sprintf("Nova reports the start finished, but the server is %s", s)}
	case r != nil || s.TaskState != "":
		return Step{Kind: Wait, Why: fmt.Sprintf("server %s, %s", s, r)}
	case s.Status == "SHUTOFF":
		return Step{Kind: Send, Why: "starting the server (os-start)"}
	}
	return Step{Kind: Fail, Why: fmt.Sprintf("Nova cannot start a server in status %s", s.Status)}
}

func decideReboot(s Server, r *Request) Step {
	switch {
	case s.certainlyOff() && r == nil:
		// Nothing of the old instance runs; starting a server someone
		// stopped is not the agent's business.
		return Step{Kind: Done, Why: "the server is already SHUTOFF", Outcome: AlreadyOff}
	case s.certainlyOff():
		return Step{Kind: Done, Why: "the server is SHUTOFF", Outcome: PoweredOff}
	case r == nil && s.TaskState == "" && !slices.Contains(hardRebootable, s.Status):
		return Step{Kind: Fail, Why: fmt.Sprintf("Nova cannot hard-reboot a server in status %s", s.Status)}
	case r == nil:
		return Step{Kind: Send, Why: fmt.Sprintf("hard-rebooting the server (status %s)", s)}
	case r.succeeded() && s.settledActive():
		return Step{Kind: Done, Why: fmt.Sprintf("Nova finished the hard reboot of request %s and the server is ACTIVE", r.ID), Outcome: Rebooted}
	case r.succeeded() && s.TaskState == "":
		return Step{Kind: Fail, Why: fmt.Sprintf("Nova reports the hard reboot %s finished, but the server is %s", r.ID, s)}
	}
	return Step{Kind: Wait, Why: fmt.Sprintf("server %s, %s", s, r)}
}
