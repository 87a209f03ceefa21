package fakeopenstack

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config describes the cloud. Zero values take the defaults documented on
// each field.
type Config struct {
	// Credentials Keystone accepts for the password method. Defaults:
	// admin / secret, project admin, domain Default.
	Username    string
	Password    string
	ProjectName string
	DomainName  string
	// ApplicationCredentials maps application credential IDs to secrets.
	ApplicationCredentials map[string]string
	// Region of every endpoint. Default RegionOne.
	Region string
	// TokenTTL is how long a token is valid. Default one hour.
	TokenTTL time.Duration
	// EndpointBase, when set, is the base of every catalog URL (for example
	// http://127.0.0.1:5000); otherwise it comes from each request's Host.
	EndpointBase string

	Servers []Server
	// VolumeTypes defaults to "multiattach" (multiattach="<is> True") and
	// "standard"; DefaultVolumeType defaults to "standard" when that type
	// exists, else to the first type.
	VolumeTypes       []VolumeType
	DefaultVolumeType string
	// MaxComputeMicroversion is Nova's maximum. Default 2.95.
	MaxComputeMicroversion string

	// Durations of the asynchronous work.
	CreateLatency time.Duration // creating → available
	DeleteLatency time.Duration // deleting → gone
	AttachLatency time.Duration // reserved → attaching → in-use
	DetachLatency time.Duration // detaching → in-use/available
	PowerLatency  time.Duration // reboot, stop, start: task state set → cleared

	// Attach and Detach run the real work behind an attachment (a hot-plug);
	// an error is a failure on the compute host. Either may be nil.
	Attach func(ctx context.Context, a Attachment) error
	Detach func(ctx context.Context, a Attachment) error
	// Power runs the real work behind a reboot, os-stop or os-start (a
	// reset or power change of the server's VM); an error is a failure on
	// the compute host. May be nil.
	Power func(ctx context.Context, p PowerRequest) error

	// Log, when set, receives one line per request.
	Log func(line string)
}

// Server is a Nova server.
type Server struct {
	ID     string
	Name   string
	Status string // default ACTIVE
	// TaskState is Nova's task_state ("" for none), set while a power
	// action runs. Given to AddServer, it stays until a power action
	// ends (a server stuck in a task).
	TaskState string
	// Addresses maps a network name to the server's fixed IPv4 addresses.
	Addresses map[string][]string
}

// VolumeType is a Cinder volume type.
type VolumeType struct {
	ID         string // default: a random UUID
	Name       string
	ExtraSpecs map[string]string
}

// Multiattach reports whether volumes of this type can be attached to many
// servers: extra spec multiattach="<is> True", as Cinder reads it.
func (t VolumeType) Multiattach() bool {
	return strings.EqualFold(strings.TrimSpace(t.ExtraSpecs["multiattach"]), "<is> True")
}

// Attachment is one volume attached (or being attached) to one server.
type Attachment struct {
	AttachmentID string
	VolumeID     string
	ServerID     string
	ServerName   string
	Device       string // /dev/vdb, ...
	// Attached is false while the attach is in progress.
	Attached bool
}

// Volume is a snapshot of a Cinder volume.
type Volume struct {
	ID          string
	Name        string
	Description string
	Size        int
	Status      string
	VolumeType  string // type name
	Multiattach bool
	// Attachments lists completed and in-progress attachments.
	Attachments []Attachment
}

// Request is one request the cloud received.
type Request struct {
	Service      string // identity, compute, volume, or "" for anything else
	Method       string
	Path         string
	Query        string
	Microversion string // the compute or volume microversion header, if any
	Status       int    // 0 when the connection was reset
}

// Cloud is a running fake OpenStack.
type Cloud struct {
	cfg     Config
	handler http.Handler

	ctx    context.Context
	cancel context.CancelFunc
	work   sync.WaitGroup

	mu        sync.Mutex
	projectID string
	userID    string
	domainID  string
	servers   []*server
	types     []*VolumeType
	volumes   []*volume
	tokens    map[string]*token
	requests  []Request
	faults    []*faultState
	hang      bool
	hangCh    chan struct{}

	srvMu  sync.Mutex
	srv    *http.Server
	srvURL string
}

type server struct {
	Server
	actions []*instanceAction
	power   powerState
}

type instanceAction struct {
	action, requestID, event string
	start, finish            time.Time
	result, details          string // result: "" while running, Success or Error
	queued                   bool   // no event yet: the compute host has not taken it up
}

type volume struct {
	id, name, description, az, typeID string
	size                              int
	status                            string
	multiattach                       bool
	created, updated                  time.Time
	attachments                       []*attachment
}

type attachment struct {
	id, serverID, device string
	attached             bool
	detaching            bool
	attachedAt           time.Time
}

type token struct {
	expires time.Time
	methods []string
}

// New checks the configuration and builds the cloud; it serves nothing
// until Start or Handler is used.
func New(cfg Config) (*Cloud, error) {
	setDefault(&cfg.Username, "admin")
	setDefault(&cfg.Password, "secret")
	setDefault(&cfg.ProjectName, "admin")
	setDefault(&cfg.DomainName, "Default")
	setDefault(&cfg.Region, "RegionOne")
	setDefault(&cfg.MaxComputeMicroversion, "2.95")
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if _, err := parseMicroversion(cfg.MaxComputeMicroversion); err != nil {
		return nil, fmt.Errorf("MaxComputeMicroversion: %w", err)
	}
	cfg.EndpointBase = strings.TrimRight(cfg.EndpointBase, "/")

	ctx, cancel := context.WithCancel(context.Background())
	c := &Cloud{
		cfg:       cfg,
		ctx:       ctx,
		cancel:    cancel,
		projectID: compactUUID(),
		userID:    compactUUID(),
		domainID:  "default",
		tokens:    map[string]*token{},
		hangCh:    make(chan struct{}),
	}
	for _, s := range cfg.Servers {
		if _, err := c.AddServer(s); err != nil {
			cancel()
			return nil, err
		}
	}
	types := cfg.VolumeTypes
	if len(types) == 0 {
		types = []VolumeType{
			{Name: "multiattach", ExtraSpecs: map[string]string{"multiattach": "<is> True"}},
			{Name: "standard", ExtraSpecs: map[string]string{}},
		}
	}
	for _, t := range types {
		if t.Name == "" {
			cancel()
			return nil, errors.New("a volume type needs a name")
		}
		t := t
		if t.ID == "" {
			t.ID = newUUID()
		}
		if t.ExtraSpecs == nil {
			t.ExtraSpecs = map[string]string{}
		}
		c.types = append(c.types, &t)
	}
	if c.cfg.DefaultVolumeType == "" {
		c.cfg.DefaultVolumeType = c.types[0].Name
		for _, t := range c.types {
			if t.Name == "standard" {
				c.cfg.DefaultVolumeType = t.Name
			}
		}
	}
	if c.findType(c.cfg.DefaultVolumeType) == nil {
		cancel()
		return nil, fmt.Errorf("default volume type %q is not among the volume types", c.cfg.DefaultVolumeType)
	}
	c.handler = c.routes()
	return c, nil
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// Handler is the whole cloud as one handler: /identity, /compute, /volume.
func (c *Cloud) Handler() http.Handler { return c.handler }

// Start serves the cloud on l in the background until Close.
func (c *Cloud) Start(l net.Listener) {
	srv := &http.Server{Handler: c.handler, ReadHeaderTimeout: 30 * time.Second}
	c.srvMu.Lock()
	c.srv = srv
	c.srvURL = "http://" + l.Addr().String()
	c.srvMu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// URL is the base URL Start serves on ("" before Start).
func (c *Cloud) URL() string {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	return c.srvURL
}

// AuthURL is the Keystone v3 URL for a cloud served at base.
func AuthURL(base string) string { return strings.TrimRight(base, "/") + "/identity/v3" }

// Close stops serving, cancels the asynchronous work and waits for it.
func (c *Cloud) Close() error {
	c.srvMu.Lock()
	srv := c.srv
	c.srvMu.Unlock()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(ctx)
		cancel()
		if err != nil {
			err = srv.Close()
		}
	}
	c.cancel()
	c.work.Wait()
	return err
}

// AddServer adds a server; its ID defaults to a random UUID and its status
// to ACTIVE.
func (c *Cloud) AddServer(s Server) (Server, error) {
	if s.Name == "" {
		return s, errors.New("a server needs a name")
	}
	if s.ID == "" {
		s.ID = newUUID()
	}
	setDefault(&s.Status, "ACTIVE")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.findServer(s.ID) != nil {
		return s, fmt.Errorf("server ID %s is already used", s.ID)
	}
	c.servers = append(c.servers, &server{Server: s})
	return s, nil
}

// LoseServer removes a server from Nova and leaves Cinder's attachments to
// it in place, as when a server is deleted while its compute host is down.
func (c *Cloud) LoseServer(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.servers {
		if s.ID == id {
			c.servers = append(c.servers[:i], c.servers[i+1:]...)
			return true
		}
	}
	return false
}

// Servers lists the servers.
func (c *Cloud) Servers() []Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Server, len(c.servers))
	for i, s := range c.servers {
		out[i] = s.Server
	}
	return out
}

// Volumes lists the volumes (deleted ones are gone).
func (c *Cloud) Volumes() []Volume {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Volume, len(c.volumes))
	for i, v := range c.volumes {
		out[i] = c.snapshot(v)
	}
	return out
}

// Volume finds a volume by ID, or else by name.
func (c *Cloud) Volume(idOrName string) (Volume, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.volumes {
		if v.id == idOrName {
			return c.snapshot(v), true
		}
	}
	for _, v := range c.volumes {
		if v.name == idOrName {
			return c.snapshot(v), true
		}
	}
	return Volume{}, false
}

func (c *Cloud) snapshot(v *volume) Volume {
	out := Volume{ID: v.id, Name: v.name, Description: v.description, Size: v.size, Status: v.status,
		Multiattach: v.multiattach}
	if t := c.findType(v.typeID); t != nil {
		out.VolumeType = t.Name
	}
	for _, a := range v.attachments {
		out.Attachments = append(out.Attachments, c.publicAttachment(v, a))
	}
	return out
}

func (c *Cloud) publicAttachment(v *volume, a *attachment) Attachment {
	out := Attachment{AttachmentID: a.id, VolumeID: v.id, ServerID: a.serverID, Device: a.device, Attached: a.attached}
	if s := c.findServer(a.serverID); s != nil {
		out.ServerName = s.Name
	}
	return out
}

// Requests lists the requests received so far, oldest first.
func (c *Cloud) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// ResetRequests forgets the requests received so far.
func (c *Cloud) ResetRequests() {
	c.mu.Lock()
	c.requests = nil
	c.mu.Unlock()
}

// ExpireTokens makes every token issued so far invalid, as if it had
// expired: the next request with one gets a 401.
func (c *Cloud) ExpireTokens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.tokens {
		t.expires = time.Time{}
	}
}

// HangAttachments makes attachments started from now on stay "attaching"
// (on = true) until HangAttachments(false) or Close.
func (c *Cloud) HangAttachments(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if on == c.hang {
		return
	}
	c.hang = on
	if !on {
		close(c.hangCh)
		c.hangCh = make(chan struct{})
	}
}

func (c *Cloud) findServer(id string) *server {
	for _, s := range c.servers {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// findType finds a volume type by ID or name.
func (c *Cloud) findType(idOrName string) *VolumeType {
	for _, t := range c.types {
		if t.ID == idOrName {
			return t
		}
	}
	for _, t := range c.types {
		if t.Name == idOrName {
			return t
		}
	}
	return nil
}

func (c *Cloud) findVolume(id string) *volume {
	for _, v := range c.volumes {
		if v.id == id {
			return v
		}
	}
	return nil
}

// background runs f as asynchronous work of the cloud (a compute or volume
// worker); Close waits for it.
func (c *Cloud) background(f func()) {
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		f()
	}()
}

// sleep waits d or until Close; it reports false when the cloud closed.
func (c *Cloud) sleep(d time.Duration) bool {
	if d <= 0 {
		return c.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// compactUUID is a UUID without dashes, as Keystone writes project and user
// IDs.
func compactUUID() string { return strings.ReplaceAll(newUUID(), "-", "") }

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		_ = json.NewEncoder(w).Encode(body)
	}
}

// writeFault writes Nova's and Cinder's error body: {"badRequest": {...}}.
func writeFault(w http.ResponseWriter, status int, format string, args ...any) {
	name := map[int]string{
		400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
		405: "badMethod", 406: "notAcceptable", 409: "conflictingRequest", 413: "overLimit",
		500: "computeFault", 501: "notImplemented", 503: "serviceUnavailable",
	}[status]
	if name == "" {
		name = "computeFault"
	}
	writeJSON(w, status, map[string]any{name: map[string]any{"code": status, "message": fmt.Sprintf(format, args...)}})
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
