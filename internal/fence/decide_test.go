package fence

import (
	"strings"
	"testing"
)

func srv(status, task string, power int) *Server {
	return &Server{ID: uuid1, Status: status, TaskState: task, PowerState: power}
}

func req(events ...Event) *Request { return &Request{ID: "req-1", Found: true, Events: events} }

var (
	running  = Event{Name: "compute_reboot_instance"}
	success  = Event{Name: "compute_reboot_instance", Finished: true, Result: "Success"}
	failed   = Event{Name: "compute_reboot_instance", Finished: true, Result: "Error", Details: "QMP system_reset failed"}
	noDetail = Event{Name: "compute_stop_instance", Finished: true, Result: "Error"}
	stopped  = Event{Name: "compute_stop_instance", Finished: true, Result: "Success"}
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		action  Action
		obs     Observation
		kind    StepKind
		outcome Outcome
		why     string // a part of the reason
	}{
		// Any power action.
		{name: "unknown server", action: Reboot, obs: Observation{}, kind: Fail, why: "no such server"},
		{name: "event in Error fails at once", action: Reboot,
			obs: Observation{srv("HARD_REBOOT", "reboot_started_hard", 1), req(failed)}, kind: Fail, why: "QMP system_reset failed"},
		{name: "event in Error without details", action: Off,
			obs: Observation{srv("ACTIVE", "", 1), req(noDetail)}, kind: Fail, why: "event compute_stop_instance: Error"},

		// reboot
		{name: "reboot: ACTIVE, send", action: Reboot, obs: Observation{Server: srv("ACTIVE", "", 1)}, kind: Send},
		{name: "reboot: already off, nothing sent", action: Reboot, obs: Observation{Server: srv("SHUTOFF", "", 4)},
			kind: Done, outcome: AlreadyOff},
		{name: "reboot: SHUTOFF but the hypervisor says running: not certain, send", action: Reboot,
			obs: Observation{Server: srv("SHUTOFF", "", 1)}, kind: Send},
		{name: "reboot: someone's hard reboot under way counts for nothing: send ours", action: Reboot,
			obs: Observation{Server: srv("HARD_REBOOT", "rebooting_hard", 1)}, kind: Send},
		{name: "reboot: busy powering off: send, Nova decides (409 is retried)", action: Reboot,
			obs: Observation{Server: srv("ACTIVE", "powering-off", 1)}, kind: Send},
		{name: "reboot: PAUSED is rebootable", action: Reboot, obs: Observation{Server: srv("PAUSED", "", 3)}, kind: Send},
		{name: "reboot: ERROR is rebootable", action: Reboot, obs: Observation{Server: srv("ERROR", "", 0)}, kind: Send},
		{name: "reboot: SHELVED_OFFLOADED is not", action: Reboot, obs: Observation{Server: srv("SHELVED_OFFLOADED", "", 4)},
			kind: Fail, why: "cannot hard-reboot a server in status SHELVED_OFFLOADED"},
		{name: "reboot: UNKNOWN (compute host down) is not", action: Reboot, obs: Observation{Server: srv("UNKNOWN", "", 0)},
			kind: Fail, why: "status UNKNOWN"},
		{name: "reboot: our request not recorded yet", action: Reboot,
			obs: Observation{srv("HARD_REBOOT", "rebooting_hard", 1), &Request{ID: "req-1"}}, kind: Wait, why: "not recorded yet"},
		{name: "reboot: no event yet", action: Reboot,
			obs: Observation{srv("HARD_REBOOT", "rebooting_hard", 1), req()}, kind: Wait, why: "waiting for the compute host"},
		{name: "reboot: event running", action: Reboot,
			obs: Observation{srv("HARD_REBOOT", "reboot_started_hard", 1), req(running)}, kind: Wait, why: "compute_reboot_instance running"},
		{name: "reboot: ACTIVE again but our event still running is not enough", action: Reboot,
			obs: Observation{srv("ACTIVE", "", 1), req(running)}, kind: Wait},
		{name: "reboot: event Success and ACTIVE: done", action: Reboot,
			obs: Observation{srv("ACTIVE", "", 1), req(success)}, kind: Done, outcome: Rebooted, why: "req-1"},
		{name: "reboot: event Success, another task started since: wait", action: Reboot,
			obs: Observation{srv("HARD_REBOOT", "rebooting_hard", 1), req(success)}, kind: Wait},
		{name: "reboot: all events must succeed", action: Reboot,
			obs: Observation{srv("ACTIVE", "", 1), req(success, running)}, kind: Wait},
		{name: "reboot: event Success but server ERROR", action: Reboot,
			obs: Observation{srv("ERROR", "", 0), req(success)}, kind: Fail, why: "finished, but the server is ERROR"},
		{name: "reboot: SHUTOFF after our request is certain", action: Reboot,
			obs: Observation{srv("SHUTOFF", "", 4), req(running)}, kind: Done, outcome: PoweredOff},

		// off
		{name: "off: already SHUTOFF, nothing sent", action: Off, obs: Observation{Server: srv("SHUTOFF", "", 4)},
			kind: Done, outcome: AlreadyOff},
		{name: "off: ACTIVE, send", action: Off, obs: Observation{Server: srv("ACTIVE", "", 1)}, kind: Send},
		{name: "off: ERROR, send", action: Off, obs: Observation{Server: srv("ERROR", "", 0)}, kind: Send},
		{name: "off: busy, wait for the task to end", action: Off,
			obs: Observation{Server: srv("HARD_REBOOT", "reboot_started_hard", 1)}, kind: Wait},
		{name: "off: SHUTOFF with the hypervisor running it: wait for Nova's sync", action: Off,
			obs: Observation{Server: srv("SHUTOFF", "", 1)}, kind: Wait, why: "power sync"},
		{name: "off: PAUSED cannot be stopped", action: Off, obs: Observation{Server: srv("PAUSED", "", 3)},
			kind: Fail, why: "use action=reboot"},
		{name: "off: powering off", action: Off, obs: Observation{srv("ACTIVE", "powering-off", 1), req(running)}, kind: Wait},
		{name: "off: SHUTOFF after our stop", action: Off, obs: Observation{srv("SHUTOFF", "", 4), req(stopped)},
			kind: Done, outcome: PoweredOff},
		{name: "off: stop done but ACTIVE again", action: Off, obs: Observation{srv("ACTIVE", "", 1), req(stopped)},
			kind: Fail, why: "started again"},
		{name: "off: request without ID: SHUTOFF is the proof", action: Off,
			obs: Observation{srv("ACTIVE", "powering-off", 1), &Request{}}, kind: Wait},

		// on
		{name: "on: already ACTIVE", action: On, obs: Observation{Server: srv("ACTIVE", "", 1)}, kind: Done, outcome: AlreadyOn},
		{name: "on: SHUTOFF, send", action: On, obs: Observation{Server: srv("SHUTOFF", "", 4)}, kind: Send},
		{name: "on: busy", action: On, obs: Observation{Server: srv("SHUTOFF", "powering-off", 4)}, kind: Wait},
		{name: "on: ERROR cannot be started", action: On, obs: Observation{Server: srv("ERROR", "", 0)}, kind: Fail},
		{name: "on: powering on", action: On, obs: Observation{srv("SHUTOFF", "powering-on", 4), req()}, kind: Wait},
		{name: "on: started", action: On, obs: Observation{srv("ACTIVE", "", 1), req()}, kind: Done, outcome: PoweredOn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.action, tc.obs)
			if got.Kind != tc.kind || got.Outcome != tc.outcome || !strings.Contains(got.Why, tc.why) {
				t.Errorf("got %s %q (%s), want %s %q containing %q", got.Kind, got.Outcome, got.Why, tc.kind, tc.outcome, tc.why)
			}
		})
	}
}
