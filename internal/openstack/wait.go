package openstack

import (
	"context"
	"fmt"
	"time"
)

// waitUntil reads the volume, paced by p, until done says the operation
// ended: true, or an error when it failed. The time from the call to the
// read that saw it done teaches p how long the next one takes.
func (e *engine) waitUntil(ctx context.Context, p *pacer, what string, done func(v *Volume) (bool, error)) error {
	started := time.Now()
	s := p.start()
	for {
		if !sleep(ctx, s.next()) {
			return e.timedOut(what)
		}
		v, err := e.read(ctx)
		if err != nil {
			return err
		}
		ok, err := done(v)
		if err != nil {
			return err
		}
		if ok {
			p.observe(time.Since(started))
			return nil
		}
	}
}

func (e *engine) timedOut(what string) error {
	status := ""
	if e.done.Volume != nil {
		status = fmt.Sprintf(" (volume status %s)", e.done.Volume.Status)
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
