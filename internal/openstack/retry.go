package openstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// Every retry rule of the module is in this file: retryTransient for reads
// (gophercloud calls it), retryable and deleteRetryable for the changes the
// engine sends through retry.

// verdict is what an error answer to a change means.
type verdict int

const (
	// again: refused for now; send the request again after a backoff.
	again verdict = iota
	// accepted: the cloud works on the change; wait for it to end.
	accepted
	// present: the change is there already (made by an earlier request of
	// ours whose answer was lost, or by someone else); nothing to wait for.
	present
)

// change is one request that changes the volume, and what its error
// answers mean.
type change struct {
	doing string // "attach volume v to server s": the start of its errors
	what  string // "volume v to be attached to server s": what a timeout interrupted
	send  func(ctx context.Context) (requestID string, err error)
	// notFound, when set, is what a 404 answer means; the volume is not
	// read back first.
	notFound func(err error) (verdict, error)
	// judge is what any other error answer means, given the volume as read
	// right after it (nil when it is gone).
	judge func(err error, v *Volume) (verdict, error)
}

// sent is how a change ended up: accepted, or present.
type sent struct {
	verdict   verdict
	requestID string // of the accepted request, when the cloud answered it
	// ours: one of our requests may have made the change, although its
	// answer was an error (5xx, broken connection); a 4xx refusal did not.
	ours bool
}

// retry sends a change until the cloud accepts it or it is there. An error
// answer may hide a change that happened, so after each one the volume is
// read back and the change judges what it means; a refusal worth waiting
// out is sent again after a backoff.
func (e *engine) retry(ctx context.Context, c change) (sent, error) {
	var s sent
	for attempt := uint(1); ; attempt++ {
		id, err := c.send(ctx)
		if err == nil {
			s.verdict, s.requestID = accepted, id
			return s, nil
		}
		if ctx.Err() != nil {
			return s, e.timedOut(c.what)
		}
		s.ours = s.ours || Transient(err)
		if code, _ := StatusCode(err); code == http.StatusNotFound && c.notFound != nil {
			s.verdict, err = c.notFound(err)
		} else {
			v, rerr := e.read(ctx)
			if rerr != nil {
				return s, fmt.Errorf("%s: %s; then: %w", c.doing, APIMessage(err), rerr)
			}
			s.verdict, err = c.judge(err, v)
		}
		if err != nil || s.verdict != again {
			return s, err
		}
		if !sleep(ctx, backoff(attempt)) {
			return s, e.timedOut(c.what)
		}
	}
}

// transitional statuses end by themselves; Cinder refuses reservations and
// detaches meanwhile, so a refusal then is worth retrying.
var transitional = map[string]bool{
	"creating": true, "reserved": true, "attaching": true, "detaching": true, "downloading": true,
	"extending": true, "retyping": true, "maintenance": true, "backing-up": true, "restoring-backup": true,
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

// deleteRetryable reports whether Cinder's refusal to delete v may turn
// into an acceptance.
func deleteRetryable(err error, v *Volume) bool {
	return Transient(err) || transitional[v.Status]
}

// retryTransient retries requests that cannot change anything (reads and
// token requests) after a 5xx answer or a broken connection, with backoff
// until the context ends. Changes are retried by the engine, which first
// reads whether the change happened.
func retryTransient(ctx context.Context, method, u string, _ *gophercloud.RequestOpts, err error, failCount uint) error {
	safe := method == http.MethodGet || method == http.MethodHead ||
		method == http.MethodPost && strings.HasSuffix(strings.TrimRight(u, "/"), "/auth/tokens")
	if !safe || ctx.Err() != nil || !Transient(err) || failCount > 50 {
		return err
	}
	select {
	case <-time.After(backoff(failCount)):
		return nil
	case <-ctx.Done():
		return err
	}
}

// backoff is 100 ms doubling per attempt, at most 5 s.
func backoff(attempt uint) time.Duration {
	d := 100 * time.Millisecond
	for i := uint(1); i < attempt && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}

// Transient reports errors worth retrying: a 5xx answer, or a connection
// that broke or was refused.
//
// A request that ran out of api_timeout is transient too; callers check
// their own context first, so that the task's timeout ends the retries.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if code, ok := StatusCode(err); ok {
		return code >= 500
	}
	// Not every transport error: a certificate that does not verify stays so.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}
