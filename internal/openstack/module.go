package openstack

import (
	"context"
	"fmt"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// DeviceByID is the stable path of the volume in a guest: the virtio serial
// is the volume ID, which udev cuts to 20 characters.
func DeviceByID(volumeID string) string {
	if volumeID == "" {
		return ""
	}
	serial := volumeID
	if len(serial) > 20 {
		serial = serial[:20]
	}
	return "/dev/disk/by-id/virtio-" + serial
}

// Run is the multiattach_volume module.
func Run(ctx context.Context, req *module.Request) (*module.Result, error) {
	w, err := WantFromParams(req.Params)
	if err != nil {
		return nil, module.Failf("%v", err)
	}
	registerSecrets(w.Conn.Cloud, req.AddSecret)
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()

	clients, err := Connect(ctx, w.Conn, req.AddSecret)
	if err != nil {
		if ctx.Err() != nil {
			return nil, module.Failf("timed out after %s connecting to the cloud: %v", w.Timeout, err)
		}
		return nil, module.Failf("%v", err)
	}
	return run(ctx, req, w, clients)
}

// registerSecrets masks the credentials of a cloud given as a dict: the
// option itself is not no_log (openstack.cloud's spec), its secrets are.
func registerSecrets(v any, add func(string)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			switch k {
			case "password", "token", "application_credential_secret", "secret", "key":
				if text, ok := module.SecretText(x); ok {
					add(text)
				}
			}
			registerSecrets(x, add)
		}
	case []any:
		for _, x := range t {
			registerSecrets(x, add)
		}
	}
}

func run(ctx context.Context, req *module.Request, w Want, c *Clients) (*module.Result, error) {
	fail := func(err error) (*module.Result, error) {
		if ctx.Err() != nil {
			return nil, module.Failf("timed out after %s: %v", w.Timeout, err)
		}
		return nil, module.Failf("%v", err)
	}
	h, err := Read(ctx, c, w)
	if err != nil {
		return fail(err)
	}
	if w.State == Absent && h.Volume == nil {
		return &module.Result{Msg: fmt.Sprintf("volume %q does not exist", w.Volume), Values: Outcome{}.Values()}, nil
	}
	plan, err := PlanVolume(h, w)
	if err != nil {
		return fail(err)
	}
	res := &module.Result{Warnings: plan.Warnings}
	if req.Diff {
		res.Diff = diff(w, plan)
	}
	if req.CheckMode {
		out := predict(h, plan)
		res.Changed, res.Msg, res.Values = out.Changed, out.Summary(w, true), out.Values()
		return res, nil
	}
	out, err := Apply(ctx, c, w, h, plan)
	res.Changed, res.Values = out.Changed, out.Values()
	if err != nil {
		msg := err.Error()
		if out.Changed {
			msg += " (done before the failure: " + out.Summary(w, false) + ")"
		}
		return res, &module.Failure{Msg: msg, Changed: out.Changed, Values: res.Values, Err: err}
	}
	res.Msg = out.Summary(w, false)
	return res, nil
}
