package fence

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/gophercloud/utils/v2/openstack/clientconfig"
	"gopkg.in/yaml.v3"

	"github.com/cinder-multiattach/cinder.multiattach/internal/openstack"
)

// maxRequest bounds one HTTP request; a request that hangs longer is
// retried (reads) or fails (power requests), within the run's timeout.
const maxRequest = 30 * time.Second

// connOptions are the connection options of a run: the cloud's entry read
// here from o.CloudsYAML, or its name for the standard clouds.yaml search.
// Every secret of the entry goes to addSecret before anything can print it.
func connOptions(o Options, addSecret func(string)) (openstack.ConnOptions, error) {
	conn := openstack.ConnOptions{APITimeout: min(maxRequest, o.Timeout)}
	if o.CloudsYAML == "" {
		if o.Cloud != "" {
			conn.Cloud = o.Cloud
		}
		return conn, nil
	}
	entry, err := cloudFromFile(o.CloudsYAML, o.Cloud, addSecret)
	if err != nil {
		return conn, err
	}
	conn.Cloud = entry
	return conn, nil
}

// cloudsFile hands clientconfig the clouds of one file, so that its rules
// (OS_CLOUD, a file of one entry, profiles) apply as to the standard search.
type cloudsFile map[string]clientconfig.Cloud

func (f cloudsFile) LoadCloudsYAML() (map[string]clientconfig.Cloud, error) { return f, nil }
func (cloudsFile) LoadSecureCloudsYAML() (map[string]clientconfig.Cloud, error) {
	return nil, nil
}
func (cloudsFile) LoadPublicCloudsYAML() (map[string]clientconfig.Cloud, error) {
	return clientconfig.LoadPublicCloudsYAML()
}

// yamlQuoted is what yaml.v3 quotes of the input in its errors: possibly a
// secret.
var yamlQuoted = regexp.MustCompile("`[^`]*`")

// cloudFromFile reads the entry name of a clouds.yaml file, as a dict for
// openstack.ConnOptions.
func cloudFromFile(path, name string, addSecret func(string)) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clouds_yaml: %w", err)
	}
	var file clientconfig.Clouds
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("clouds_yaml %s is not a valid clouds.yaml: %s", path, yamlQuoted.ReplaceAllString(err.Error(), "`...`"))
	}
	for _, c := range file.Clouds {
		if a := c.AuthInfo; a != nil {
			addSecret(a.Password)
			addSecret(a.Token)
			addSecret(a.ApplicationCredentialSecret)
		}
	}
	if name == "" && os.Getenv("OS_CLOUD") == "" && len(file.Clouds) != 1 {
		return nil, fmt.Errorf("clouds_yaml %s has %d clouds: say which with cloud=NAME", path, len(file.Clouds))
	}
	cloud, err := clientconfig.GetCloudFromYAML(&clientconfig.ClientOpts{Cloud: name, YAMLOpts: cloudsFile(file.Clouds)})
	if err != nil {
		return nil, fmt.Errorf("clouds_yaml %s: %w", path, err)
	}
	raw, err := json.Marshal(cloud)
	if err != nil {
		return nil, fmt.Errorf("clouds_yaml %s: %w", path, err)
	}
	var entry map[string]any
	if err := json.Unmarshal(raw, &entry); err != nil {
		return nil, fmt.Errorf("clouds_yaml %s: %w", path, err)
	}
	return entry, nil
}
