package fence

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/instanceactions"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/cinder-multiattach/cinder.multiattach/internal/openstack"
)

// compute is what the agent asks of Nova.
type compute interface {
	// Server reads a server; nil when Nova does not know it.
	Server(ctx context.Context, id string) (*Server, error)
	// Request reads the instance action of a request.
	Request(ctx context.Context, serverID, requestID string) (Request, error)
	// Send sends the power action and returns the request ID Nova gave it.
	Send(ctx context.Context, serverID string, a Action) (string, error)
	// Servers lists the servers the credential sees; detail adds the
	// status.
	Servers(ctx context.Context, detail bool, limit int) ([]Server, error)
}

// nova is compute over gophercloud. Every call uses the compute client at
// openstack.ComputeMicroversion (2.60: instance action events are shown to
// their project since 2.51); the instance action read uses the 2.84 client
// when the cloud has it, for the events' failure details.
type nova struct{ c *openstack.Clients }

func (n nova) Server(ctx context.Context, id string) (*Server, error) {
	var s struct {
		ID         string  `json:"id"`
		Name       string  `json:"name"`
		Status     string  `json:"status"`
		TaskState  *string `json:"OS-EXT-STS:task_state"`
		PowerState int     `json:"OS-EXT-STS:power_state"`
	}
	err := servers.Get(ctx, n.c.Compute, id).ExtractInto(&s)
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read server %s: %w", id, err)
	}
	out := &Server{ID: s.ID, Name: s.Name, Status: s.Status, PowerState: s.PowerState}
	if s.TaskState != nil {
		out.TaskState = *s.TaskState
	}
	return out, nil
}

func (n nova) Request(ctx context.Context, serverID, requestID string) (Request, error) {
	client := n.c.Compute
	if n.c.ComputeDetails != nil {
		client = n.c.ComputeDetails
	}
	var action struct {
		Events []struct {
			Event      string  `json:"event"`
			FinishTime *string `json:"finish_time"`
			Result     *string `json:"result"`
			Details    *string `json:"details"`
		} `json:"events"`
	}
	out := Request{ID: requestID}
	err := instanceactions.Get(ctx, client, serverID, requestID).ExtractInto(&action)
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read the instance action of request %s on server %s: %w", requestID, serverID, err)
	}
	out.Found = true
	for _, e := range action.Events {
		ev := Event{Name: e.Event, Finished: e.FinishTime != nil && *e.FinishTime != ""}
		if e.Result != nil {
			ev.Result = *e.Result
		}
		if e.Details != nil {
			ev.Details = *e.Details
		}
		out.Events = append(out.Events, ev)
	}
	return out, nil
}

func (n nova) Send(ctx context.Context, serverID string, a Action) (string, error) {
	var r gophercloud.ErrResult
	switch a {
	case Reboot:
		r = servers.Reboot(ctx, n.c.Compute, serverID, servers.RebootOpts{Type: servers.HardReboot}).ErrResult
	case Off:
		r = servers.Stop(ctx, n.c.Compute, serverID).ErrResult
	case On:
		r = servers.Start(ctx, n.c.Compute, serverID).ErrResult
	default:
		return "", fmt.Errorf("action %s sends no request", a)
	}
	if r.Err != nil {
		return "", r.Err
	}
	if id := r.Header.Get("X-Openstack-Request-Id"); id != "" {
		return id, nil
	}
	return r.Header.Get("X-Compute-Request-Id"), nil
}

func (n nova) Servers(ctx context.Context, detail bool, limit int) ([]Server, error) {
	opts := servers.ListOpts{Limit: limit}
	pager := servers.ListSimple(n.c.Compute, opts)
	if detail {
		pager = servers.List(n.c.Compute, opts)
	}
	var out []Server
	err := pager.EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
		var list []struct {
			ID     string `json:"id"`
			Name   string `json:"name"`
			Status string `json:"status"`
		}
		if err := servers.ExtractServersInto(page, &list); err != nil {
			return false, err
		}
		for _, s := range list {
			out = append(out, Server{ID: s.ID, Name: s.Name, Status: s.Status})
		}
		return limit == 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// isConflict reports Nova's 409: the server is in a state that refuses the
// action now.
func isConflict(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusConflict) }

func isNotFound(err error) bool { return gophercloud.ResponseCodeIs(err, http.StatusNotFound) }

// describe is an API error in one sentence: the status and Nova's message.
func describe(err error) string {
	if code, ok := openstack.StatusCode(err); ok {
		msg := openstack.APIMessage(err)
		switch code {
		case http.StatusUnauthorized:
			return fmt.Sprintf("HTTP 401: the credential is not accepted (%s)", msg)
		case http.StatusForbidden:
			return fmt.Sprintf("HTTP 403: the credential may not do this; check its role and access rules (%s)", msg)
		}
		return fmt.Sprintf("HTTP %d: %s", code, msg)
	}
	var ctxErr interface{ Timeout() bool }
	if errors.As(err, &ctxErr) && ctxErr.Timeout() {
		return "no answer in time: " + err.Error()
	}
	return err.Error()
}
