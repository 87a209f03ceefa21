package fakeopenstack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

type ctxKey int

const microversionKey ctxKey = 0

func (c *Cloud) routes() http.Handler {
	mux := http.NewServeMux()

	mux.HandleFunc("GET /identity", c.identityVersions)
	mux.HandleFunc("GET /identity/{$}", c.identityVersions)
	mux.HandleFunc("GET /identity/v3", c.identityVersion)
	mux.HandleFunc("GET /identity/v3/{$}", c.identityVersion)
	mux.HandleFunc("POST /identity/v3/auth/tokens", c.issueToken)
	mux.HandleFunc("GET /identity/v3/auth/tokens", c.validateToken)

	mux.HandleFunc("GET /compute/{$}", c.computeVersions)
	mux.HandleFunc("GET /compute/v2.1", c.computeVersion)
	mux.HandleFunc("GET /compute/v2.1/{$}", c.computeVersion)
	const srv = "/compute/v2.1/servers"
	mux.HandleFunc("GET "+srv, c.listServers(false))
	mux.HandleFunc("GET "+srv+"/detail", c.listServers(true))
	mux.HandleFunc("GET "+srv+"/{server}", c.showServer)
	mux.HandleFunc("POST "+srv+"/{server}/action", c.serverAction)
	mux.HandleFunc("GET "+srv+"/{server}/os-volume_attachments", c.listVolumeAttachments)
	mux.HandleFunc("POST "+srv+"/{server}/os-volume_attachments", c.attachVolume)
	mux.HandleFunc("GET "+srv+"/{server}/os-volume_attachments/{volume}", c.showVolumeAttachment)
	mux.HandleFunc("DELETE "+srv+"/{server}/os-volume_attachments/{volume}", c.detachVolume)
	mux.HandleFunc("GET "+srv+"/{server}/os-instance-actions", c.listInstanceActions)
	mux.HandleFunc("GET "+srv+"/{server}/os-instance-actions/{request}", c.showInstanceAction)

	mux.HandleFunc("GET /volume/{$}", c.volumeVersions)
	mux.HandleFunc("GET /volume/v3/{$}", c.volumeVersions)
	const vol = "/volume/v3/{project}"
	mux.HandleFunc("GET "+vol+"/volumes", c.listVolumes(false))
	mux.HandleFunc("GET "+vol+"/volumes/detail", c.listVolumes(true))
	mux.HandleFunc("POST "+vol+"/volumes", c.createVolume)
	mux.HandleFunc("GET "+vol+"/volumes/{volume}", c.showVolume)
	mux.HandleFunc("DELETE "+vol+"/volumes/{volume}", c.deleteVolume)
	mux.HandleFunc("GET "+vol+"/types", c.listTypes)
	mux.HandleFunc("GET "+vol+"/types/{type}", c.showType)
	mux.HandleFunc("GET "+vol+"/types/{type}/extra_specs", c.typeExtraSpecs)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serve(mux, w, r)
	})
}

func serviceOf(path string) string {
	for _, s := range []string{"identity", "compute", "volume"} {
		if path == "/"+s || strings.HasPrefix(path, "/"+s+"/") {
			return s
		}
	}
	return ""
}

// isVersionDocument reports the unauthenticated version discovery paths.
func isVersionDocument(path string) bool {
	switch strings.TrimRight(path, "/") {
	case "/identity", "/identity/v3", "/compute", "/compute/v2.1", "/volume", "/volume/v3":
		return true
	}
	return false
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// serve wraps every request: recording, fault injection, token check and
// microversion negotiation, then the route itself.
func (c *Cloud) serve(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	service := serviceOf(r.URL.Path)
	rec := Request{Service: service, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	switch service {
	case "compute":
		rec.Microversion = computeVersionHeader(r)
	case "volume":
		rec.Microversion = r.Header.Get("OpenStack-API-Version")
	}
	requestID := "req-" + newUUID()
	w.Header().Set("X-Openstack-Request-Id", requestID)
	if service == "compute" {
		w.Header().Set("X-Compute-Request-Id", requestID)
	}
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey, requestID))

	status := 0
	defer func() {
		rec.Status = status
		c.mu.Lock()
		c.requests = append(c.requests, rec)
		c.mu.Unlock()
		if c.cfg.Log != nil {
			c.cfg.Log(fmt.Sprintf("%s %s %s -> %d", r.Method, r.URL.RequestURI(), rec.Microversion, status))
		}
	}()

	fault := c.matchFault(service, r)
	if fault != nil && fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if fault != nil && !fault.After {
		if fault.Reset && resetConnection(w) {
			return
		}
		if fault.Status != 0 {
			status = fault.Status
			c.writeInjected(w, service, fault.Status, fault.Message)
			return
		}
	}

	target := w
	var discard *discardWriter
	if fault != nil && fault.After && (fault.Reset || fault.Status != 0) {
		discard = &discardWriter{}
		target = discard
	}
	sr := &statusRecorder{ResponseWriter: target}
	c.route(mux, sr, r, service)
	status = sr.status
	if discard != nil {
		if fault.Reset && resetConnection(w) {
			status = 0
			return
		}
		status = fault.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		c.writeInjected(w, service, status, fault.Message)
	}
}

func (c *Cloud) route(mux *http.ServeMux, w http.ResponseWriter, r *http.Request, service string) {
	if !isVersionDocument(r.URL.Path) && !(service == "identity" && r.Method == http.MethodPost) {
		if !c.tokenValid(r.Header.Get("X-Auth-Token")) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", c.base(r)+"/identity/v3"))
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
				"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
			return
		}
	}
	if service == "compute" {
		mv, status, msg := c.negotiateCompute(r)
		if status != 0 {
			writeFault(w, status, "%s", msg)
			return
		}
		w.Header().Set("OpenStack-API-Version", "compute "+mv.String())
		w.Header().Set("X-OpenStack-Nova-API-Version", mv.String())
		w.Header().Add("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
		r = r.WithContext(context.WithValue(r.Context(), microversionKey, mv))
	}
	mux.ServeHTTP(w, r)
}

func (c *Cloud) writeInjected(w http.ResponseWriter, service string, status int, message string) {
	if message == "" {
		message = "injected fault: " + http.StatusText(status)
	}
	if service == "identity" {
		writeJSON(w, status, map[string]any{"error": map[string]any{
			"code": status, "title": http.StatusText(status), "message": message}})
		return
	}
	writeFault(w, status, "%s", message)
}

// base is the scheme and host the client used, for catalog and link URLs.
func (c *Cloud) base(r *http.Request) string {
	if c.cfg.EndpointBase != "" {
		return c.cfg.EndpointBase
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

const requestIDKey ctxKey = 1

func requestID(r *http.Request) string {
	s, _ := r.Context().Value(requestIDKey).(string)
	return s
}
