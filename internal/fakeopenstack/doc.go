// Package fakeopenstack is an in-process OpenStack: Keystone v3, Nova
// (compute v2.1) and Cinder (block storage v3), enough of each to attach one
// volume to many servers, and following the rules the real services enforce.
// Unit tests serve it with httptest; bin/fakeopenstack and the lab serve it on
// 127.0.0.1.
//
// # API (stable: other parts of the project build on it)
//
//	cloud, err := fakeopenstack.New(fakeopenstack.Config{
//		Servers: []fakeopenstack.Server{{Name: "node1"}, {Name: "node2"}},
//		AttachLatency: 200 * time.Millisecond,
//		Attach: func(ctx context.Context, a fakeopenstack.Attachment) error {
//			return hotplug(ctx, a.ServerName, a.VolumeID) // a failure is Nova's failure
//		},
//		PowerLatency: 2 * time.Second,
//		Power: func(ctx context.Context, p fakeopenstack.PowerRequest) error {
//			return power(ctx, p.ServerName, p.Action) // reset, power off or on the VM
//		},
//	})
//	l, _ := net.Listen("tcp", "127.0.0.1:0")
//	cloud.Start(l)                                  // or cloud.Handler() with httptest
//	defer cloud.Close()
//	cloud.WriteCloudsYAML("clouds.yaml", "fake", "") // auth_url, credentials, region
//
// In detail:
//
//   - [Config] sets the credentials Keystone accepts (default admin/secret,
//     project admin, domain Default, region RegionOne), the servers (ID
//     defaults to a random UUID, Status to ACTIVE, Addresses are fixed IPv4
//     addresses per network), the volume types (default: "multiattach", with
//     extra spec multiattach="<is> True", and "standard", the default type),
//     the latencies of the asynchronous work, and the Attach, Detach and
//     Power callbacks.
//   - Attach is called when an attachment moves to "attaching", Detach when a
//     detach starts, both outside any lock, with a context cancelled by Close.
//     A callback error is a failure on the compute host: the attachment is
//     rolled back (or kept, for a detach), the volume status is recomputed,
//     and the server's instance action records the error (its event details
//     at microversion 2.84 or later hold the callback's message), as Nova
//     does. The client sees what it would see from a real cloud: the volume
//     never lists the server (or still lists it), and no error on the request.
//   - Power is called once per accepted reboot (HardReboot, SoftReboot),
//     os-stop (PowerOff) or os-start (PowerOn) when the compute host runs
//     it, outside any lock, with a context cancelled by Close; the
//     PowerRequest names the server and the request ID of its instance
//     action. A callback error is a failure on the compute host: the
//     action's event ends in Error (details at 2.84 or later), a failed
//     reboot leaves the server in ERROR, a failed stop or start only clears
//     the task state, as Nova does. (Nova also has a reboot that fails with
//     the instance still running and reports Success; the fake does not.)
//   - [Cloud.SyncPowerState] is Nova's power-state sync: the compute host
//     reports whether a server's VM runs, and a server whose VM died by
//     itself (or that runs while Nova has it stopped) is stopped through
//     the stop action (instance action "stop", Power with PowerOff), as
//     Nova's force_stop does; a server in a task is left alone.
//   - [Cloud.Start] serves on a listener in the background; [Cloud.Handler]
//     is the whole cloud as one http.Handler. Catalog URLs are built from the
//     request's Host header (or Config.EndpointBase), so any listener works,
//     TLS included. [Cloud.Close] stops serving and waits for running
//     callbacks.
//   - [Cloud.CloudsYAML] and [Cloud.WriteCloudsYAML] produce a clouds.yaml
//     with one entry for the cloud served at a base URL ("" = Start's URL),
//     written atomically with mode 0600; [AuthURL] is Keystone's URL.
//   - [Cloud.Servers], [Cloud.AddServer], [Cloud.Volumes], [Cloud.Volume] read
//     and change the state directly; [Cloud.Requests] lists every request
//     received (for tests and request counting).
//   - Fault injection: [Cloud.InjectFault] (status codes, connection resets,
//     delays, before or after the request takes effect), [Cloud.ExpireTokens],
//     [Cloud.HangAttachments].
//
// # Endpoints
//
//   - /identity/v3: Keystone, POST and GET /auth/tokens (password, token and
//     application_credential methods; project scope).
//   - /compute/v2.1: Nova, servers (list, detail, show), server actions
//     (reboot, os-stop, os-start), os-volume_attachments (list, show, attach,
//     detach), os-instance-actions.
//   - /volume/v3/{project_id}: Cinder, volumes (create, list, detail, show,
//     delete), types (list, show, default, extra_specs).
//
// # Rules followed
//
//   - Every request but version documents needs a valid X-Auth-Token (401
//     otherwise); tokens expire after Config.TokenTTL.
//   - Nova reads the microversion from X-OpenStack-Nova-API-Version or
//     OpenStack-API-Version (default 2.1, "latest" = Config.MaxComputeMicroversion,
//     406 outside the range); attaching a multiattach volume below 2.60 is a
//     400 with Nova's message.
//   - The server list's name filter is an unanchored case-insensitive regular
//     expression, as in Nova on MySQL: "s1" also matches "s10" and "S1".
//     Nova escapes every "|" first, so "a|b" finds a literal "a|b" only.
//   - An attach moves the volume available/in-use → reserved → attaching →
//     in-use (Config.AttachLatency in total, a quarter of it reserved); the
//     volume's attachments list the server only once the attach is complete.
//   - A reserve is refused with 400 while the volume is reserved, attaching or
//     detaching, and for a volume that is not multiattach once it is in use;
//     attaching the same server twice is a 400 ("already attached").
//   - Devices are assigned per server: /dev/vdb, /dev/vdc, ...
//   - A detach needs the volume in-use (400 otherwise), answers 404 when the
//     server has no such attachment, moves the volume to detaching for
//     Config.DetachLatency, then recomputes the status from the remaining
//     attachments (in-use while any remain, otherwise available).
//   - A volume is created in "creating" (Config.CreateLatency) and deleted in
//     "deleting" (Config.DeleteLatency); deleting an attached or in-use volume
//     is a 400. Its multiattach flag comes from its type's extra spec.
//   - The volume list's name filter is an exact match, as in Cinder.
//   - Power actions (POST /servers/{id}/action, 202) follow nova.compute.api:
//     a HARD reboot from vm_state active, stopped, paused, suspended or
//     error, with no task or a reboot only queued (task_state
//     rebooting_hard, ...); a SOFT reboot from active; os-stop from active
//     or error; os-start from stopped; soft and stop/start only with no
//     task. Anything else is a 409 with Nova's message ("Cannot 'stop'
//     instance ID while it is in vm_state stopped", "... in task_state
//     powering-off"). The API sets the task state (HARD_REBOOT with
//     rebooting_hard, REBOOT with rebooting, powering-off, powering-on) and
//     records the instance action (reboot, stop, start) under the request ID,
//     with no events until the compute host takes it up (a quarter of
//     Config.PowerLatency), then reboot_pending_hard, reboot_started_hard
//     and the event compute_reboot_instance (compute_stop_instance,
//     compute_start_instance); at the end ACTIVE (power_state 1) or SHUTOFF
//     (4) with no task. One power action at a time runs per server.
//     Server.TaskState shows the task state; given to AddServer, it stays
//     until a power action ends.
package fakeopenstack
