package openstack

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Apply runs the plan: create, detach, attach, delete, one operation at a
// time, as Cinder refuses a second reservation while a volume is reserved,
// attaching or detaching. Every operation but the last waits for its
// completion; the last one too unless wait is off. The outcome tells what
// happened, on failure too.
func Apply(ctx context.Context, c *Clients, w Want, h Have, p Plan) (Outcome, error) {
	e := &engine{c: c, wait: w.Wait, timeout: w.Timeout,
		done: Outcome{Volume: h.Volume, Servers: h.Requested, Names: h.Names}}
	if err := e.apply(ctx, p); err != nil {
		return e.done, err
	}
	// Succeeded: a deletion asked for is done, whoever finished it.
	e.done.Deleted = p.Delete
	if e.done.Volume != nil && !e.done.Gone && ctx.Err() == nil {
		_, _ = e.read(ctx)
	}
	return e.done, nil
}

// engine applies a plan. Every request goes through retry, every wait
// through waitUntil.
type engine struct {
	c       *Clients
	wait    bool
	timeout time.Duration

	createPace, attachPace, detachPace, deletePace pacer

	// done is what happened so far, for a truthful result even on failure.
	// Its Volume is the volume as last read; its Deleted, until the end,
	// that Cinder accepted our deletion.
	done Outcome
}

func (e *engine) apply(ctx context.Context, p Plan) error {
	if p.Create {
		if err := e.create(ctx, p.New, e.wait || len(p.Attach) > 0); err != nil {
			return err
		}
	}
	ops := len(p.Detach) + len(p.Attach)
	if p.Delete {
		ops++
	}
	done := 0
	last := func() bool { done++; return done == ops && !e.wait }
	for _, s := range p.Detach {
		if err := e.detach(ctx, s, !last()); err != nil {
			return err
		}
	}
	for _, s := range p.Attach {
		if err := e.attach(ctx, s, !last()); err != nil {
			return err
		}
	}
	if p.Delete {
		return e.delete(ctx, !last())
	}
	return nil
}

// read refreshes the volume; nil when it is gone.
func (e *engine) read(ctx context.Context) (*Volume, error) {
	v, err := e.c.GetVolume(ctx, e.done.Volume.ID)
	if err != nil {
		return nil, err
	}
	if v != nil {
		e.done.Volume = v
	}
	return v, nil
}

func (e *engine) create(ctx context.Context, opts CreateVolumeOpts, wait bool) error {
	v, err := e.c.CreateVolume(ctx, opts)
	if err != nil {
		return err
	}
	e.done.Changed, e.done.Created = true, true
	e.done.Volume = v
	if !wait {
		return nil
	}
	return e.waitUntil(ctx, &e.createPace, fmt.Sprintf("volume %s to become available", describe(v)), func(cur *Volume) (bool, error) {
		switch {
		case cur == nil:
			return false, fmt.Errorf("volume %s disappeared while it was being created", describe(v))
		case strings.HasPrefix(cur.Status, "error"):
			return false, fmt.Errorf("creating volume %s failed in Cinder: status %s", describe(cur), cur.Status)
		}
		return cur.Status == "available", nil
	})
}

func (e *engine) attach(ctx context.Context, s Server, wait bool) error {
	c := change{
		doing: fmt.Sprintf("attach volume %s to server %s", describe(e.done.Volume), s.Name),
		what:  fmt.Sprintf("volume %s to be attached to server %s", describe(e.done.Volume), s.Name),
		send:  func(ctx context.Context) (string, error) { return e.c.Attach(ctx, s.ID, e.done.Volume.ID) },
		notFound: func(err error) (verdict, error) {
			return again, fmt.Errorf("attach volume %s to server %s: %s", describe(e.done.Volume), s.Name, APIMessage(err))
		},
		judge: func(err error, v *Volume) (verdict, error) {
			switch _, attached := v.AttachedTo(s.ID); {
			case v == nil:
				return again, fmt.Errorf("volume %s disappeared while attaching it to server %s", describe(e.done.Volume), s.Name)
			case attached:
				return present, nil
			case !retryable(err, v):
				return again, fmt.Errorf("attaching volume %s to server %s refused by Nova: %s", describe(v), s.Name, APIMessage(err))
			}
			return again, nil
		},
	}
	r, err := e.retry(ctx, c)
	if err != nil {
		return err
	}
	if r.verdict == accepted || r.ours {
		e.done.Changed = true
		e.done.Attached = append(e.done.Attached, s)
	}
	if r.verdict == present || !wait {
		return nil
	}
	return e.waitUntil(ctx, &e.attachPace, c.what, func(v *Volume) (bool, error) {
		return e.attachDone(ctx, s, r.requestID, v)
	})
}

// attachDone tells from the volume as read whether the attachment to s is
// complete, or failed.
func (e *engine) attachDone(ctx context.Context, s Server, requestID string, v *Volume) (bool, error) {
	if v == nil {
		return false, fmt.Errorf("volume %s disappeared while attaching it to server %s", describe(e.done.Volume), s.Name)
	}
	// Cinder lists the attachment a moment before the volume leaves
	// "attaching", and refuses the next reserve until it has.
	if _, ok := v.AttachedTo(s.ID); ok && !transitional[v.Status] {
		return true, nil
	}
	if transitional[v.Status] {
		return false, nil
	}
	// The volume settled without this server: unless Nova still works on
	// it, the compute host failed and Nova rolled the attach back.
	pending, err := e.c.NovaAttached(ctx, s.ID, v.ID)
	if err != nil || pending {
		return false, err
	}
	e.done.Attached = e.done.Attached[:len(e.done.Attached)-1]
	reason := e.c.ActionFailure(ctx, s.ID, requestID)
	if reason == "" {
		reason = "the attachment was rolled back (see the server's instance actions)"
	}
	return false, fmt.Errorf("attaching volume %s to server %s failed in Nova: %s", describe(v), s.Name, reason)
}

func (e *engine) detach(ctx context.Context, s Server, wait bool) error {
	label := s.Name
	if label == "" {
		label = s.ID
	}
	c := change{
		doing: fmt.Sprintf("detach volume %s from server %s", describe(e.done.Volume), label),
		what:  fmt.Sprintf("volume %s to be detached from server %s", describe(e.done.Volume), label),
		send:  func(ctx context.Context) (string, error) { return e.c.Detach(ctx, s.ID, e.done.Volume.ID) },
		judge: func(err error, v *Volume) (verdict, error) {
			a, attached := v.AttachedTo(s.ID)
			switch code, _ := StatusCode(err); {
			case !attached:
				return present, nil
			case code == 404:
				// Nova has no such attachment, but Cinder still lists one (a
				// server deleted while its compute host was down leaves it
				// behind): no detach through Nova removes it.
				return again, fmt.Errorf("cannot detach volume %s from server %s: Nova answers %q, but Cinder still lists attachment %s "+
					"to that server. If the server is gone, remove the stale attachment as an administrator "+
					"(openstack --os-volume-api-version 3.27 volume attachment delete %s)",
					describe(v), label, APIMessage(err), a.AttachmentID, a.AttachmentID)
			case !retryable(err, v):
				return again, fmt.Errorf("detaching volume %s from server %s refused by Nova: %s", describe(v), label, APIMessage(err))
			}
			return again, nil
		},
	}
	r, err := e.retry(ctx, c)
	if err != nil {
		return err
	}
	if r.verdict == accepted || r.ours {
		e.done.Changed = true
		e.done.Detached = append(e.done.Detached, s)
	}
	if r.verdict == present || !wait {
		return nil
	}
	return e.waitUntil(ctx, &e.detachPace, c.what, func(v *Volume) (bool, error) {
		return e.detachDone(ctx, s, label, r.requestID, v)
	})
}

// detachDone tells from the volume as read whether the detach from s is
// complete, or failed.
func (e *engine) detachDone(ctx context.Context, s Server, label, requestID string, v *Volume) (bool, error) {
	if _, ok := v.AttachedTo(s.ID); !ok {
		return true, nil
	}
	if transitional[v.Status] {
		return false, nil
	}
	e.done.Detached = e.done.Detached[:len(e.done.Detached)-1]
	reason := e.c.ActionFailure(ctx, s.ID, requestID)
	if reason == "" {
		reason = "the detach was rolled back (see the server's instance actions)"
	}
	return false, fmt.Errorf("detaching volume %s from server %s failed in Nova: %s", describe(v), label, reason)
}

func (e *engine) delete(ctx context.Context, wait bool) error {
	c := change{
		doing: fmt.Sprintf("delete volume %s", describe(e.done.Volume)),
		what:  fmt.Sprintf("volume %s to be deleted", describe(e.done.Volume)),
		send:  func(ctx context.Context) (string, error) { return "", e.c.DeleteVolume(ctx, e.done.Volume.ID) },
		// Gone: by our earlier request, or by someone else (then it is no
		// change of ours).
		notFound: func(error) (verdict, error) { return present, nil },
		judge: func(err error, v *Volume) (verdict, error) {
			switch {
			case v == nil:
				return present, nil
			case v.Status == "deleting":
				// Being deleted, by whoever: wait as for our own request.
				return accepted, nil
			case !deleteRetryable(err, v):
				return again, fmt.Errorf("deleting volume %s refused by Cinder: %s", describe(v), APIMessage(err))
			}
			return again, nil
		},
	}
	r, err := e.retry(ctx, c)
	if err != nil {
		return err
	}
	if r.verdict == present {
		e.done.Changed, e.done.Gone = e.done.Changed || r.ours, r.ours
		return nil
	}
	if e.done.Volume.Status != "deleting" || r.ours {
		e.done.Changed, e.done.Deleted = true, true
	}
	if !wait {
		return nil
	}
	return e.waitUntil(ctx, &e.deletePace, c.what, func(v *Volume) (bool, error) {
		if v == nil {
			e.done.Gone = true
			return true, nil
		}
		if strings.HasPrefix(v.Status, "error") {
			return false, fmt.Errorf("deleting volume %s failed in Cinder: status %s", describe(v), v.Status)
		}
		return false, nil
	})
}
