package fakeopenstack

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

type authRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User struct {
					ID       string    `json:"id"`
					Name     string    `json:"name"`
					Password string    `json:"password"`
					Domain   *domainID `json:"domain"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
			ApplicationCredential *struct {
				ID     string `json:"id"`
				Name   string `json:"name"`
				Secret string `json:"secret"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type domainID struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type projectScope struct {
	Project *struct {
		ID     string    `json:"id"`
		Name   string    `json:"name"`
		Domain *domainID `json:"domain"`
	} `json:"project"`
	Domain *domainID `json:"domain"`
	System any       `json:"system"`
}

func (c *Cloud) unauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
		"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
}

func (c *Cloud) domainMatches(d *domainID) bool {
	if d == nil {
		return false
	}
	return d.ID == c.domainID || strings.EqualFold(d.ID, "default") && c.domainID == "default" ||
		d.Name != "" && d.Name == c.cfg.DomainName
}

// issueToken is POST /v3/auth/tokens: password, token and
// application_credential methods, project scope.
func (c *Cloud) issueToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
			"code": 400, "title": "Bad Request", "message": "Expecting to find auth in request body: " + err.Error()}})
		return
	}
	id := req.Auth.Identity
	ok := false
	for _, m := range id.Methods {
		switch m {
		case "password":
			if p := id.Password; p != nil && p.User.Password == c.cfg.Password &&
				(p.User.ID == c.userID || p.User.Name == c.cfg.Username && c.domainMatches(p.User.Domain)) {
				ok = true
			}
		case "token":
			if id.Token != nil && c.tokenValid(id.Token.ID) {
				ok = true
			}
		case "application_credential":
			if a := id.ApplicationCredential; a != nil {
				secret, known := c.cfg.ApplicationCredentials[a.ID]
				ok = known && a.Secret == secret
			}
		}
	}
	if !ok {
		c.unauthorized(w)
		return
	}
	if len(req.Auth.Scope) > 0 && string(req.Auth.Scope) != `"unscoped"` {
		var scope projectScope
		if err := json.Unmarshal(req.Auth.Scope, &scope); err != nil {
			c.unauthorized(w)
			return
		}
		if p := scope.Project; p != nil {
			if !(p.ID == c.projectID || p.Name == c.cfg.ProjectName && c.domainMatches(p.Domain)) {
				c.unauthorized(w)
				return
			}
		} else if scope.Domain != nil || scope.System != nil {
			// Only project-scoped tokens carry the compute and volume
			// endpoints this cloud offers.
			c.unauthorized(w)
			return
		}
	}

	tokenID := "gAAAAA" + compactUUID() + compactUUID()
	now := time.Now()
	c.mu.Lock()
	c.tokens[tokenID] = &token{expires: now.Add(c.cfg.TokenTTL), methods: id.Methods}
	body := c.tokenBody(r, c.tokens[tokenID], now)
	c.mu.Unlock()
	w.Header().Set("X-Subject-Token", tokenID)
	writeJSON(w, http.StatusCreated, body)
}

// validateToken is GET /v3/auth/tokens (X-Subject-Token).
func (c *Cloud) validateToken(w http.ResponseWriter, r *http.Request) {
	subject := r.Header.Get("X-Subject-Token")
	if !c.tokenValid(subject) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{
			"code": 404, "title": "Not Found", "message": "Could not find token."}})
		return
	}
	c.mu.Lock()
	body := c.tokenBody(r, c.tokens[subject], time.Now())
	c.mu.Unlock()
	w.Header().Set("X-Subject-Token", subject)
	writeJSON(w, http.StatusOK, body)
}

func (c *Cloud) tokenValid(id string) bool {
	if id == "" {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[id]
	return ok && time.Now().Before(t.expires)
}

func (c *Cloud) tokenBody(r *http.Request, t *token, issued time.Time) map[string]any {
	domain := map[string]any{"id": c.domainID, "name": c.cfg.DomainName}
	return map[string]any{"token": map[string]any{
		"methods":    t.methods,
		"issued_at":  issued.UTC().Format("2006-01-02T15:04:05.000000Z"),
		"expires_at": t.expires.UTC().Format("2006-01-02T15:04:05.000000Z"),
		"user":       map[string]any{"id": c.userID, "name": c.cfg.Username, "domain": domain, "password_expires_at": nil},
		"project":    map[string]any{"id": c.projectID, "name": c.cfg.ProjectName, "domain": domain},
		"roles":      []any{map[string]any{"id": "r0", "name": "member"}, map[string]any{"id": "r1", "name": "reader"}},
		"is_domain":  false,
		"catalog":    c.catalog(c.base(r)),
		"audit_ids":  []string{compactUUID()[:22]},
	}}
}

func (c *Cloud) catalog(base string) []any {
	entry := func(typ, name, url string) map[string]any {
		var eps []any
		for _, iface := range []string{"public", "internal", "admin"} {
			eps = append(eps, map[string]any{"id": compactUUID(), "interface": iface, "region": c.cfg.Region,
				"region_id": c.cfg.Region, "url": url})
		}
		return map[string]any{"id": compactUUID(), "type": typ, "name": name, "endpoints": eps}
	}
	volume := base + "/volume/v3/" + c.projectID
	return []any{
		entry("identity", "keystone", base+"/identity"),
		entry("compute", "nova", base+"/compute/v2.1"),
		entry("block-storage", "cinder", volume),
		entry("volumev3", "cinderv3", volume),
	}
}

func (c *Cloud) identityVersionDoc(r *http.Request) map[string]any {
	return map[string]any{
		"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
		"links":       []any{map[string]any{"rel": "self", "href": c.base(r) + "/identity/v3/"}},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}},
	}
}

func (c *Cloud) identityVersions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMultipleChoices, map[string]any{"versions": map[string]any{
		"values": []any{c.identityVersionDoc(r)}}})
}

func (c *Cloud) identityVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": c.identityVersionDoc(r)})
}
