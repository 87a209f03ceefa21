package openstack

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// engine applies a plan, one operation at a time: Cinder refuses a second
// reservation while a volume is reserved, attaching or detaching.
type engine struct {
	c       *Clients
	wait    bool
	timeout time.Duration

	attachPace, detachPace pacer

	// What happened so far, for a truthful result even on failure.
	changed  bool
	volume   *Volume // last read
	attached []Server
	detached []Server
	// deleting: Cinder accepted our deletion; deleted: the volume is gone.
	deleting bool
	deleted  bool
}

// transitional statuses end by themselves; Cinder refuses reservations and
// detaches meanwhile, so a refusal then is worth retrying.
var transitional = map[string]bool{
	"creating": true, "reserved": true, "attaching": true, "detaching": true, "downloading": true,
	"extending": true, "retyping": true, "maintenance": true, "backing-up": true, "restoring-backup": true,
}

// apply runs the plan: create, detach, attach, delete. Every operation but
// the last waits for its completion; the last one too unless wait is off.
func (e *engine) apply(ctx context.Context, p Plan, o Options, cur Current) error {
	e.volume = cur.Volume
	if p.Create {
		v, err := e.c.CreateVolume(ctx, o.Volume, o.Size, o.VolumeType, o.AvailabilityZone, o.Description)
		if err != nil {
			return err
		}
		e.changed = true
		e.volume = v
		if e.wait || len(p.Attach) > 0 {
			if err := e.waitCreated(ctx, v); err != nil {
				return err
			}
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

func (e *engine) timedOut(what string) error {
	status := ""
	if e.volume != nil {
		status = fmt.Sprintf(" (volume status %s)", e.volume.Status)
	}
	return fmt.Errorf("timed out after %s waiting for %s%s; raise timeout if the cloud is slow", e.timeout, what, status)
}

// sleep waits d; false when the context ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// read refreshes the volume; nil when it is gone.
func (e *engine) read(ctx context.Context) (*Volume, error) {
	v, err := e.c.GetVolume(ctx, e.volume.ID)
	if err != nil {
		return nil, err
	}
	if v != nil {
		e.volume = v
	}
	return v, nil
}

func (e *engine) waitCreated(ctx context.Context, v *Volume) error {
	var p pacer
	s := p.start()
	for {
		if !sleep(ctx, s.next()) {
			return e.timedOut(fmt.Sprintf("volume %s to become available", describe(v)))
		}
		cur, err := e.read(ctx)
		if err != nil {
			return err
		}
		switch {
		case cur == nil:
			return fmt.Errorf("volume %s disappeared while it was being created", describe(v))
		case cur.Status == "available":
			return nil
		case strings.HasPrefix(cur.Status, "error"):
			return fmt.Errorf("creating volume %s failed in Cinder: status %s", describe(cur), cur.Status)
		}
	}
}

// retryable reports whether an attach or detach refused with err may work
// later, given the volume as read right after the refusal.
func retryable(err error, v *Volume) bool {
	if Transient(err) {
		return true
	}
	code, _ := StatusCode(err)
	switch code {
	case 409:
		// A task in progress on the server ends ("while it is in
		// task_state ..."); a vm_state, a locked server and any other
		// conflict do not, and Nova's message says what to do.
		return strings.Contains(APIMessage(err), "task_state")
	case 400:
		return v != nil && transitional[v.Status]
	}
	return false
}

func (e *engine) attach(ctx context.Context, s Server, wait bool) error {
	what := fmt.Sprintf("volume %s to be attached to server %s", describe(e.volume), s.Name)
	var requestID string
	// ours: an earlier request may have taken effect although its answer
	// was an error (5xx, broken connection); a 4xx refusal did not.
	ours := false
	for attempt := uint(1); ; attempt++ {
		id, err := e.c.Attach(ctx, s.ID, e.volume.ID)
		if err == nil {
			requestID = id
			break
		}
		if ctx.Err() != nil {
			return e.timedOut(what)
		}
		if code, _ := StatusCode(err); code == 404 {
			return fmt.Errorf("attach volume %s to server %s: %s", describe(e.volume), s.Name, APIMessage(err))
		}
		// The request may have taken effect before its answer was lost.
		v, rerr := e.read(ctx)
		if rerr != nil {
			return fmt.Errorf("attach volume %s to server %s: %s; then: %w", describe(e.volume), s.Name, APIMessage(err), rerr)
		}
		if v == nil {
			return fmt.Errorf("volume %s disappeared while attaching it to server %s", describe(e.volume), s.Name)
		}
		ours = ours || Transient(err)
		if _, ok := v.AttachedTo(s.ID); ok {
			// Attached meanwhile, by us or by someone else.
			if ours {
				e.changed = true
				e.attached = append(e.attached, s)
			}
			return nil
		}
		if !retryable(err, v) {
			return fmt.Errorf("attaching volume %s to server %s refused by Nova: %s", describe(e.volume), s.Name, APIMessage(err))
		}
		if !sleep(ctx, backoff(attempt)) {
			return e.timedOut(what)
		}
	}
	e.changed = true
	e.attached = append(e.attached, s)
	if !wait {
		return nil
	}

	started := time.Now()
	sched := e.attachPace.start()
	for {
		if !sleep(ctx, sched.next()) {
			return e.timedOut(what)
		}
		v, err := e.read(ctx)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("volume %s disappeared while attaching it to server %s", describe(e.volume), s.Name)
		}
		// Cinder lists the attachment a moment before the volume leaves
		// "attaching", and refuses the next reserve until it has.
		if _, ok := v.AttachedTo(s.ID); ok && !transitional[v.Status] {
			e.attachPace.observe(time.Since(started))
			return nil
		}
		if transitional[v.Status] {
			continue
		}
		// The volume settled without this server: unless Nova still works
		// on it, the compute host failed and Nova rolled the attach back.
		pending, err := e.c.NovaAttached(ctx, s.ID, v.ID)
		if err != nil {
			return err
		}
		if !pending {
			e.attached = e.attached[:len(e.attached)-1]
			reason := e.c.ActionFailure(ctx, s.ID, requestID)
			if reason == "" {
				reason = "the attachment was rolled back (see the server's instance actions)"
			}
			return fmt.Errorf("attaching volume %s to server %s failed in Nova: %s", describe(v), s.Name, reason)
		}
	}
}

func (e *engine) detach(ctx context.Context, s Server, wait bool) error {
	label := s.Name
	if label == "" {
		label = s.ID
	}
	what := fmt.Sprintf("volume %s to be detached from server %s", describe(e.volume), label)
	var requestID string
	ours := false
	for attempt := uint(1); ; attempt++ {
		id, err := e.c.Detach(ctx, s.ID, e.volume.ID)
		if err == nil {
			requestID = id
			break
		}
		if ctx.Err() != nil {
			return e.timedOut(what)
		}
		ours = ours || Transient(err)
		v, rerr := e.read(ctx)
		if rerr != nil {
			return fmt.Errorf("detach volume %s from server %s: %s; then: %w", describe(e.volume), label, APIMessage(err), rerr)
		}
		a, attached := v.AttachedTo(s.ID)
		if !attached {
			if ours {
				e.changed = true
				e.detached = append(e.detached, s)
			}
			return nil
		}
		if code, _ := StatusCode(err); code == 404 {
			// Nova has no such attachment, but Cinder still lists one (a
			// server deleted while its compute host was down leaves it
			// behind): no detach through Nova removes it.
			return fmt.Errorf("cannot detach volume %s from server %s: Nova answers %q, but Cinder still lists attachment %s "+
				"to that server. If the server is gone, remove the stale attachment as an administrator "+
				"(openstack --os-volume-api-version 3.27 volume attachment delete %s)",
				describe(v), label, APIMessage(err), a.AttachmentID, a.AttachmentID)
		}
		if !retryable(err, v) {
			return fmt.Errorf("detaching volume %s from server %s refused by Nova: %s", describe(e.volume), label, APIMessage(err))
		}
		if !sleep(ctx, backoff(attempt)) {
			return e.timedOut(what)
		}
	}
	e.changed = true
	e.detached = append(e.detached, s)
	if !wait {
		return nil
	}

	started := time.Now()
	sched := e.detachPace.start()
	for {
		if !sleep(ctx, sched.next()) {
			return e.timedOut(what)
		}
		v, err := e.read(ctx)
		if err != nil {
			return err
		}
		if _, ok := v.AttachedTo(s.ID); v == nil || !ok {
			e.detachPace.observe(time.Since(started))
			return nil
		}
		if !transitional[v.Status] {
			e.detached = e.detached[:len(e.detached)-1]
			reason := e.c.ActionFailure(ctx, s.ID, requestID)
			if reason == "" {
				reason = "the detach was rolled back (see the server's instance actions)"
			}
			return fmt.Errorf("detaching volume %s from server %s failed in Nova: %s", describe(v), label, reason)
		}
	}
}

func (e *engine) delete(ctx context.Context, wait bool) error {
	what := fmt.Sprintf("volume %s to be deleted", describe(e.volume))
	ours := false
	for attempt := uint(1); ; attempt++ {
		err := e.c.DeleteVolume(ctx, e.volume.ID)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return e.timedOut(what)
		}
		if code, _ := StatusCode(err); code == 404 {
			if ours {
				e.changed, e.deleted = true, true
			}
			return nil
		}
		ours = ours || Transient(err)
		v, rerr := e.read(ctx)
		if rerr != nil {
			return fmt.Errorf("delete volume %s: %s; then: %w", describe(e.volume), APIMessage(err), rerr)
		}
		if v == nil || v.Status == "deleting" {
			// Deleted or being deleted: by our earlier request, or by
			// someone else (then it is no change of ours).
			e.changed = e.changed || ours
			if v == nil {
				e.deleted = ours
				return nil
			}
			break
		}
		if !(Transient(err) || transitional[v.Status]) {
			return fmt.Errorf("deleting volume %s refused by Cinder: %s", describe(v), APIMessage(err))
		}
		if !sleep(ctx, backoff(attempt)) {
			return e.timedOut(what)
		}
	}
	if e.volume.Status != "deleting" || ours {
		e.changed, e.deleting = true, true
	}
	if !wait {
		return nil
	}
	var p pacer
	sched := p.start()
	for {
		if !sleep(ctx, sched.next()) {
			return e.timedOut(what)
		}
		v, err := e.read(ctx)
		if err != nil {
			return err
		}
		if v == nil {
			e.deleted = true
			return nil
		}
		if strings.HasPrefix(v.Status, "error") {
			return fmt.Errorf("deleting volume %s failed in Cinder: status %s", describe(v), v.Status)
		}
	}
}

// pacer spaces the reads that wait for an operation. Once it has seen one
// operation finish it expects the next to take about as long: it reads just
// before that, then often, so that waiting adds little to the time the cloud
// itself takes, for few requests.
type pacer struct{ estimate time.Duration }

type schedule struct {
	estimate time.Duration
	n        int
	step     time.Duration
}

const maxPollInterval = 2 * time.Second

func (p *pacer) start() *schedule { return &schedule{estimate: p.estimate} }

// observe records how long one operation took, from its request to the
// read that saw it done; the shortest is the estimate.
func (p *pacer) observe(d time.Duration) {
	if p.estimate == 0 || d < p.estimate {
		p.estimate = d
	}
}

func (s *schedule) next() time.Duration {
	s.n++
	if s.estimate == 0 {
		if s.n == 1 {
			s.step = 25 * time.Millisecond
		} else {
			s.step = min(s.step*13/10, maxPollInterval)
		}
		return s.step
	}
	switch s.n {
	case 1:
		return s.estimate * 9 / 10
	case 2:
		s.step = min(max(s.estimate/25, 10*time.Millisecond), maxPollInterval)
	default:
		s.step = min(s.step*115/100, maxPollInterval)
	}
	return s.step
}
