// Package openstack is the multiattach_volume module: one Cinder volume
// attached to many Nova servers in one task. Its steps are those of every
// module: Params → Want (WantFromParams), Read → Have (the volume, the
// servers, their attachments), PlanVolume(Have, Want) → Plan (plain data, no
// I/O), and unless in check mode Apply(Plan), one server at a time, as
// Cinder allows only one reservation at a time. Apply and check mode both
// end in an Outcome, which gives the return values and the message.
package openstack

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cinder-multiattach/cinder.multiattach/internal/module"
)

// Spec is the multiattach_volume module's argument spec. The connection
// options carry openstack.cloud's names, aliases and no_log settings.
var Spec = module.Spec{
	"cloud":          {Type: module.Raw},
	"auth":           {Type: module.Dict, NoLog: true},
	"auth_type":      {},
	"region_name":    {},
	"interface":      {Choices: []any{"public", "internal", "admin"}, Aliases: []string{"endpoint_type"}},
	"validate_certs": {Type: module.Bool, Aliases: []string{"verify"}},
	"ca_cert":        {Type: module.Path, Aliases: []string{"cacert"}},
	"client_cert":    {Type: module.Path, Aliases: []string{"cert"}},
	"client_key":     {Type: module.Path, Aliases: []string{"key"}, NoLog: true},
	"api_timeout":    {Type: module.Int},
	"wait":           {Type: module.Bool, Default: true},
	"timeout":        {Type: module.Int, Default: 600},

	"volume":            {Required: true},
	"size":              {Type: module.Int},
	"volume_type":       {},
	"availability_zone": {},
	"description":       {},
	"servers":           {Type: module.List, Elements: module.Str},
	"state":             {Default: "present", Choices: []any{"present", "absent"}},
	"exclusive":         {Type: module.Bool, Default: false},
	"delete":            {Type: module.Bool, Default: false},
}

// State is the requested state of the attachments.
type State string

// The two states.
const (
	Present State = "present"
	Absent  State = "absent"
)

// Want is the state the task asks for, from its validated options.
type Want struct {
	Conn ConnOptions

	Volume           string // name or ID
	Size             int    // GiB; 0 when not given
	VolumeType       string
	AvailabilityZone string
	Description      string
	// Servers are names or IDs; ServersGiven tells an empty list from an
	// omitted option (state=absent detaches every server when omitted).
	Servers      []string
	ServersGiven bool
	State        State
	Exclusive    bool
	Delete       bool
	Wait         bool
	Timeout      time.Duration
}

// ConnOptions are the connection options, as openstack.cloud names them.
type ConnOptions struct {
	Cloud         any // a clouds.yaml entry name, or a dict shaped like one
	Auth          map[string]any
	AuthType      string
	RegionName    string
	Interface     string
	ValidateCerts *bool
	CACert        string
	ClientCert    string
	ClientKey     string
	APITimeout    time.Duration
}

// maxTimeout (a week, in seconds) keeps timeouts far from overflowing a
// time.Duration.
const maxTimeout = 7 * 24 * 3600

// WantFromParams checks the options that depend on each other; every
// problem is reported at once.
func WantFromParams(p module.Params) (Want, error) {
	w := Want{
		Volume:           strings.TrimSpace(p.String("volume")),
		Size:             p.Int("size"),
		VolumeType:       p.String("volume_type"),
		AvailabilityZone: p.String("availability_zone"),
		Description:      p.String("description"),
		Servers:          p.Strings("servers"),
		ServersGiven:     p.IsSet("servers"),
		State:            State(p.String("state")),
		Exclusive:        p.Bool("exclusive"),
		Delete:           p.Bool("delete"),
		Wait:             p.Bool("wait"),
		Timeout:          time.Duration(p.Int("timeout")) * time.Second,
		Conn:             connFromParams(p),
	}
	if problems := w.check(p); len(problems) > 0 {
		return w, errors.New(strings.Join(problems, "; "))
	}
	return w, nil
}

func connFromParams(p module.Params) ConnOptions {
	c := ConnOptions{
		Cloud:      p["cloud"],
		Auth:       p.Dict("auth"),
		AuthType:   p.String("auth_type"),
		RegionName: p.String("region_name"),
		Interface:  p.String("interface"),
		CACert:     p.String("ca_cert"),
		ClientCert: p.String("client_cert"),
		ClientKey:  p.String("client_key"),
		APITimeout: time.Duration(p.Int("api_timeout")) * time.Second,
	}
	if p.IsSet("validate_certs") {
		v := p.Bool("validate_certs")
		c.ValidateCerts = &v
	}
	return c
}

// check returns every problem of the options, and on the way
// trims the server names and drops a blank cloud name.
func (w *Want) check(p module.Params) []string {
	var problems []string
	if w.Volume == "" {
		problems = append(problems, "volume must be a volume name or ID, not empty")
	}
	if p.IsSet("size") && w.Size < 1 {
		problems = append(problems, fmt.Sprintf("size must be at least 1 (GiB), got %d", w.Size))
	}
	if t := p.Int("timeout"); t < 1 || t > maxTimeout {
		problems = append(problems, fmt.Sprintf("timeout must be 1 to %d (seconds), got %d", maxTimeout, t))
	}
	if t := p.Int("api_timeout"); p.IsSet("api_timeout") && (t < 1 || t > maxTimeout) {
		problems = append(problems, fmt.Sprintf("api_timeout must be 1 to %d (seconds), got %d", maxTimeout, t))
	}
	for i, s := range w.Servers {
		w.Servers[i] = strings.TrimSpace(s)
		if w.Servers[i] == "" {
			problems = append(problems, fmt.Sprintf("servers[%d] is empty: give a server name or ID", i))
		}
	}
	switch c := w.Conn.Cloud.(type) {
	case nil, map[string]any:
	case string:
		if strings.TrimSpace(c) == "" {
			w.Conn.Cloud = nil
		}
	default:
		problems = append(problems, fmt.Sprintf("cloud must be a clouds.yaml entry name or a dict, got %T", c))
	}
	if w.State == Present && w.Delete {
		problems = append(problems, "delete: true applies to state: absent only (it deletes the volume after detaching it)")
	}
	if w.State == Absent && w.Exclusive {
		problems = append(problems, "exclusive: true applies to state: present only")
	}
	return problems
}
