// Package fence is fence_nova, a fence agent for dlm_controld whose power
// switch is OpenStack Nova: the cluster's nodes are Nova servers, and
// fencing one is a hard reboot (or a stop) that Nova confirms.
//
// # How dlm_controld runs it
//
// dlm.conf(5) names the agent and its arguments; values cannot contain
// spaces (dlm splits the line there):
//
//	device  nova /usr/local/sbin/fence_nova cloud=fence clouds_yaml=/etc/cinder-multiattach/fence-clouds.yaml
//	connect nova node=1 plug=<server UUID of node 1>
//	connect nova node=2 plug=<server UUID of node 2>
//
// To fence node 1, dlm_controld (dlm_controld/fence.c, fence_config.c) runs
// the agent with no arguments and writes on its stdin the device line's
// pairs, then the connect line's, one a line, then node=1 if no node= was
// there, then fail_time=<time(2) of the failure>:
//
//	cloud=fence
//	clouds_yaml=/etc/cinder-multiattach/fence-clouds.yaml
//	node=1
//	plug=<server UUID of node 1>
//	fail_time=1700000000
//
// There is no action= line, so the action is the default, reboot. An
// "unfence nova" line after the connect lines makes each node run the agent
// for itself at startup with action=on instead of fail_time. The exit
// status is all dlm reads (0 fenced, anything else failed: it tries the
// next device, then again); it sends the agent's stdout and stderr to
// /dev/null, which is why every log line also goes to syslog (daemon
// facility, tag fence_nova).
//
// Input follows fence-agents (lib/fencing.py): stdin is read only when
// there are no command-line arguments; one key=value a line, blank lines
// and # comments skipped, a value in double quotes unquoted, a later key
// replacing an earlier one, keys in either - or _ spelling. Unknown keys
// are ignored and named (never their value) on stderr. plug has the
// aliases port (fence-agents' and dlm.conf(5)'s name) and uuid
// (fence_openstack's old name). The command line takes -o/--action,
// -n/--plug (--port, --uuid), --cloud, --clouds-yaml, --timeout, --node,
// -v/--verbose and -h/--help.
//
// # What success means
//
// The agent exits 0 for reboot and off only when Nova shows that the
// instance dlm saw fail is certainly gone:
//
//   - off: the server is SHUTOFF with no task_state and a power_state other
//     than running. A server already so is success without a request;
//     otherwise the agent sends os-stop and waits for SHUTOFF. A stop whose
//     instance action ends in Error fails at once.
//   - reboot: the agent sends a HARD reboot, takes the request ID Nova
//     answers (X-Openstack-Request-Id), and waits until that request's
//     instance action (GET /servers/{id}/os-instance-actions/{request id})
//     has events, all finished with result Success, and the server is
//     ACTIVE with no task_state. A server that is, or becomes, SHUTOFF as
//     above is success too: nothing of the old instance runs. An event that
//     ends in Error fails at once.
//   - A hard reboot already under way when the agent comes counts for
//     nothing: it may have started, and the guest booted again, before dlm
//     saw the node fail. The agent always sends its own and follows only
//     that one. Nova accepts a hard reboot while another is only queued
//     (task_state rebooting_hard); once the compute host took the other up
//     (reboot_pending_hard, reboot_started_hard) Nova answers 409, and the
//     agent retries, as for every 409, until the request is accepted or the
//     timeout ends.
//   - on: the server is ACTIVE with no task_state (already so: no request).
//   - status: Status: ON and exit 0 for ACTIVE, Status: OFF and exit 2 for
//     SHUTOFF, exit 1 for anything else. list prints "UUID,name" lines,
//     list-status adds ON, OFF or UNKNOWN; monitor checks that Nova answers.
//
// Everything else exits 1 with one line on stderr and syslog: the timeout
// (timeout=, default 180 s, bounds the whole run, every HTTP request and
// gophercloud's endpoint discovery included), a 409 that does not clear in
// time, any other refusal of the request (4xx, 5xx), a failure on the
// compute host, a status Nova cannot act on, an unknown server, an
// authentication failure. Reads that fail with a 5xx or a broken connection
// are retried within the timeout; the power request itself is not resent
// after such an answer.
//
// Known limits, from Nova: when a hard reboot fails on the compute host
// while the instance keeps running (libvirt could not kill a qemu stuck in
// the kernel), Nova logs "Reboot failed but instance is running" and
// records the event as Success; the agent cannot see that. A stop has no
// such branch (a failed power-off ends the event in Error), so action=off
// in the device line is the certain choice, at the price of the node staying
// off (and os-stop's graceful shutdown first, up to Nova's
// shutdown_timeout). When the server's compute host is down, Nova accepts
// the request but nothing runs it: the agent times out and dlm keeps
// trying; fence the host (or evacuate) first.
//
// # Credential
//
// The agent needs to show a server, reboot, stop and start it, and read the
// instance action of its request: an application credential of a user with
// the member role on the servers' project, restricted by access rules:
//
//	openstack application credential create fence-nova --access-rules '[
//	  {"service": "compute", "method": "GET",  "path": "/v2.1/servers/*"},
//	  {"service": "compute", "method": "POST", "path": "/v2.1/servers/*/action"},
//	  {"service": "compute", "method": "GET",  "path": "/v2.1/servers/*/os-instance-actions/*"},
//	  {"service": "compute", "method": "GET",  "path": "/v2.1/servers"}]'
//
// (the last rule only for list and monitor). The clouds.yaml entry:
//
//	clouds:
//	  fence:
//	    auth_type: v3applicationcredential
//	    auth:
//	      auth_url: https://keystone.example.com/v3
//	      application_credential_id: ID
//	      application_credential_secret: SECRET
//	    region_name: RegionOne
//
// The connection is internal/openstack's (Connect): the catalog must list
// the compute and block-storage endpoints and Nova must support
// microversion 2.60. No password, token or secret is ever printed: the
// credentials are masked in every line, gophercloud's errors included.
//
// # Shape
//
// Options are parsed and checked first (ParseStdin, ParseArgs, NewOptions);
// a read of Nova gives plain data (Observation); Decide, with no I/O, says
// wait, send, done or fail; agent.power is the one place that acts, in one
// loop of waitFor.
package fence
