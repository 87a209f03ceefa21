package fakeopenstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// CloudsYAML is a clouds.yaml with one entry, name, for the cloud served at
// base (Start's URL when base is "").
func (c *Cloud) CloudsYAML(name, base string) ([]byte, error) {
	if base == "" {
		base = c.URL()
	}
	if base == "" {
		return nil, errors.New("the cloud is not served yet: call Start, or give its base URL")
	}
	entry := map[string]any{
		"auth": map[string]any{
			"auth_url":            AuthURL(base),
			"username":            c.cfg.Username,
			"password":            c.cfg.Password,
			"project_name":        c.cfg.ProjectName,
			"user_domain_name":    c.cfg.DomainName,
			"project_domain_name": c.cfg.DomainName,
		},
		"region_name":          c.cfg.Region,
		"interface":            "public",
		"identity_api_version": 3,
	}
	data, err := yaml.Marshal(map[string]any{"clouds": map[string]any{name: entry}})
	if err != nil {
		return nil, fmt.Errorf("encode clouds.yaml: %w", err)
	}
	return data, nil
}

// WriteCloudsYAML writes CloudsYAML(name, base) to path with mode 0600 (it
// holds the password), replacing the file atomically.
func (c *Cloud) WriteCloudsYAML(path, name, base string) error {
	data, err := c.CloudsYAML(name, base)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".clouds-*.yaml")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
