package fence

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// parameter is one option, for the parser, --help and the metadata.
type parameter struct {
	key      string   // the stdin key
	flags    []string // command-line names; the first long one is shown
	getopt   string   // as fence-agents show it
	content  string   // the metadata's content type
	def      string
	required bool
	boolean  bool
	help     string
}

var parameters = []parameter{
	{key: "action", flags: []string{"o", "action"}, getopt: "-o, --action=[action]", content: "string", def: "reboot", required: true,
		help: "on, off, reboot (default), status, list, list-status, monitor, metadata or validate-all"},
	{key: "plug", flags: []string{"n", "plug", "port", "uuid"}, getopt: "-n, --plug=[UUID]", content: "string",
		help: "UUID of the Nova server to act on (stdin: plug=, or port=)"},
	{key: "cloud", flags: []string{"cloud"}, getopt: "--cloud=[name]", content: "string",
		help: "entry of clouds.yaml (default: OS_CLOUD, or the file's only entry)"},
	{key: "clouds_yaml", flags: []string{"clouds-yaml"}, getopt: "--clouds-yaml=[path]", content: "string",
		help: "clouds.yaml to read (default: OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/, /etc/openstack/)"},
	{key: "timeout", flags: []string{"timeout"}, getopt: "--timeout=[seconds]", content: "second", def: "180",
		help: fmt.Sprintf("bound of the whole run, every request included (1 to %d)", maxTimeout)},
	{key: "delay", flags: []string{"delay"}, getopt: "--delay=[seconds]", content: "second", def: "0",
		help: fmt.Sprintf("wait this long before fencing (reboot, off), so that of two nodes that lose each other only one fences (0 to %d)", maxDelay)},
	{key: "node", flags: []string{"node"}, getopt: "--node=[nodeid]", content: "string",
		help: "dlm's node ID, for messages (dlm_controld adds it)"},
	{key: "verbose", flags: []string{"v", "verbose"}, getopt: "-v, --verbose", content: "boolean", boolean: true,
		help: "log every state the server passes through"},
}

// usage is the --help text: the operator's documentation, with the package
// comment's essentials.
func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`fence_nova: fence agent for dlm_controld, with OpenStack Nova as the power switch

Usage:
  fence_nova [options]        options on the command line
  fence_nova < FILE           key=value lines on stdin, as dlm_controld runs it
                              (read only when there are no arguments)

Options (stdin key, command line):
`)
	for _, p := range parameters {
		fmt.Fprintf(&b, "  %-12s %-22s %s\n", p.key, p.getopt, p.help)
	}
	b.WriteString(`  -h, --help                          this text

dlm.conf(5) (values cannot contain spaces: dlm splits the line there):
  device  nova /usr/local/sbin/fence_nova cloud=fence clouds_yaml=/etc/cinder-multiattach/fence-clouds.yaml
  connect nova node=1 plug=<server UUID of node 1>
  connect nova node=2 plug=<server UUID of node 2>
dlm_controld writes the device line's and the node's connect line's pairs
on stdin, one a line, then node=N if missing and fail_time=T; no action, so
fencing is a reboot. An "unfence nova" line adds action=on at startup.
Keys the agent does not know are ignored (named on stderr, never their value).

Exit status (exit 0 only when the old instance is certainly gone):
  reboot  0 when Nova finished the hard reboot this run asked for (its
          instance action's events ended in Success) and the server is
          ACTIVE with no task_state, or when the server is SHUTOFF.
  off     0 when the server is SHUTOFF with no task_state (already so: no
          request is sent).
  on      0 when the server is ACTIVE with no task_state.
  status  0 on (ACTIVE), 2 off (SHUTOFF), 1 anything else.
  Anything else (timeout, a refusal that does not clear, a failure on the
  compute host, an unknown state, an authentication failure) exits 1 with one
  line on stderr and in syslog (dlm_controld discards the agent's output),
  and dlm tries again. A 409 while the server has a task is retried until
  the timeout. A hard reboot already under way counts for nothing: the agent
  sends its own and waits for that one.
  Known limit: Nova records a hard reboot that failed with the instance still
  running (qemu stuck in the kernel) as Success. action=off in the device
  line has no such gap (a failed stop ends in Error), but leaves the node off.

Credential: an application credential of a user with the member role on the
servers' project, limited by access rules to what the agent does:
  openstack application credential create fence-nova --access-rules '[
    {"service": "compute", "method": "GET",  "path": "/v2.1/servers/*"},
    {"service": "compute", "method": "POST", "path": "/v2.1/servers/*/action"},
    {"service": "compute", "method": "GET",  "path": "/v2.1/servers/*/os-instance-actions/*"},
    {"service": "compute", "method": "GET",  "path": "/v2.1/servers"}]'
(show a server, reboot/stop/start it, read the instance action of the
request; the last rule only for list and monitor). clouds.yaml:
  clouds:
    fence:
      auth_type: v3applicationcredential
      auth:
        auth_url: https://keystone.example.com/v3
        application_credential_id: ID
        application_credential_secret: SECRET
      region_name: RegionOne
Keep the file mode 0600, owned by root (dlm_controld runs as root).
`)
	_, _ = io.WriteString(w, b.String())
}

// metadata is fence-agents' XML description, for tools that read it.
func metadata(w io.Writer) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" ?>
<resource-agent name="fence_nova" shortdesc="Fence agent for OpenStack Nova servers, run by dlm_controld" >
<longdesc>fence_nova reboots (hard), stops or starts a Nova server and exits 0 only when Nova shows the old instance is certainly gone: the hard reboot it requested finished with the server ACTIVE, or the server is SHUTOFF.</longdesc>
<vendor-url>https://docs.openstack.org/nova/</vendor-url>
<parameters>
`)
	for _, p := range parameters {
		required := "0"
		if p.required {
			required = "1"
		}
		fmt.Fprintf(&b, "\t<parameter name=%q unique=\"0\" required=%q>\n", p.key, required)
		fmt.Fprintf(&b, "\t\t<getopt mixed=\"%s\" />\n", html.EscapeString(p.getopt))
		def := ""
		if p.def != "" {
			def = fmt.Sprintf(" default=%q", p.def)
		}
		fmt.Fprintf(&b, "\t\t<content type=%q%s />\n", p.content, def)
		fmt.Fprintf(&b, "\t\t<shortdesc lang=\"en\">%s</shortdesc>\n", html.EscapeString(p.help))
		b.WriteString("\t</parameter>\n")
	}
	b.WriteString("</parameters>\n<actions>\n")
	for _, a := range actions {
		if a == On {
			b.WriteString("\t<action name=\"on\" automatic=\"0\"/>\n")
			continue
		}
		fmt.Fprintf(&b, "\t<action name=%q />\n", a)
	}
	b.WriteString("</actions>\n</resource-agent>\n")
	_, _ = io.WriteString(w, b.String())
}
