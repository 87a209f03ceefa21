package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/utils"
	"github.com/gophercloud/utils/v2/openstack/clientconfig"
)

// ComputeMicroversion is the compute API version every Nova call uses: the
// first that allows a multiattach volume on a second server.
const ComputeMicroversion = "2.60"

// detailsMicroversion adds the failure details to instance action events.
const detailsMicroversion = "2.84"

// Clients are the authenticated service clients of one module run.
type Clients struct {
	Provider *gophercloud.ProviderClient
	// Compute uses ComputeMicroversion; ComputeDetails, when the cloud
	// supports it, the microversion that shows instance action details.
	Compute        *gophercloud.ServiceClient
	ComputeDetails *gophercloud.ServiceClient
	Volume         *gophercloud.ServiceClient
	AuthURL        string
}

// resolvedCloud is the module's cloud entry handed to clientconfig, so that
// its rules (environment fallbacks, domains, scopes, token and application
// credential handling) apply to options as they do to clouds.yaml.
type resolvedCloud struct{ cloud clientconfig.Cloud }

const resolvedName = "multiattach_volume"

func (r resolvedCloud) LoadCloudsYAML() (map[string]clientconfig.Cloud, error) {
	return map[string]clientconfig.Cloud{resolvedName: r.cloud}, nil
}
func (resolvedCloud) LoadSecureCloudsYAML() (map[string]clientconfig.Cloud, error) { return nil, nil }
func (resolvedCloud) LoadPublicCloudsYAML() (map[string]clientconfig.Cloud, error) { return nil, nil }

// ResolveCloud merges, in order of precedence, the module options, the
// clouds.yaml entry (the cloud option, else OS_CLOUD), and the OS_*
// environment (applied later by clientconfig for what is still unset).
func ResolveCloud(o ConnOptions) (clientconfig.Cloud, error) {
	cloud, err := cloudEntry(o.Cloud)
	if err != nil {
		return cloud, err
	}
	// Profiles are merged already; clientconfig must not load them again.
	cloud.Profile, cloud.Cloud = "", ""

	if len(o.Auth) > 0 {
		if cloud.AuthInfo, err = mergeAuth(cloud.AuthInfo, o.Auth); err != nil {
			return cloud, err
		}
	}
	if o.AuthType != "" {
		cloud.AuthType = clientconfig.AuthType(o.AuthType)
	}
	if o.RegionName != "" {
		cloud.RegionName = o.RegionName
	}
	if o.Interface != "" {
		cloud.Interface, cloud.EndpointType = o.Interface, ""
	}
	switch {
	case o.ValidateCerts != nil:
		v := *o.ValidateCerts
		cloud.Verify = &v
	case cloud.Verify == nil && os.Getenv("OS_INSECURE") != "":
		insecure, err := strconv.ParseBool(os.Getenv("OS_INSECURE"))
		if err != nil {
			return cloud, fmt.Errorf("OS_INSECURE=%q is not a boolean", os.Getenv("OS_INSECURE"))
		}
		v := !insecure
		cloud.Verify = &v
	}
	if o.CACert != "" {
		cloud.CACertFile = o.CACert
	}
	if o.ClientCert != "" {
		cloud.ClientCertFile = o.ClientCert
	}
	if o.ClientKey != "" {
		cloud.ClientKeyFile = o.ClientKey
	}
	return cloud, nil
}

// cloudEntry is the cloud option's entry: a clouds.yaml entry by name, a
// dict shaped like one, or when not given the entry OS_CLOUD names.
func cloudEntry(option any) (clientconfig.Cloud, error) {
	var cloud clientconfig.Cloud
	switch c := option.(type) {
	case string:
		found, err := clientconfig.GetCloudFromYAML(&clientconfig.ClientOpts{Cloud: c})
		if err != nil {
			return cloud, fmt.Errorf("cloud %q: %w (clouds.yaml is read from OS_CLIENT_CONFIG_FILE, ./clouds.yaml, "+
				"~/.config/openstack/ or /etc/openstack/)", c, err)
		}
		cloud = *found
	case map[string]any:
		entry := make(map[string]any, len(c))
		for k, v := range c {
			entry[k] = v
		}
		// clouds.yaml writes these as numbers (identity_api_version: 3).
		for _, k := range []string{"identity_api_version", "volume_api_version"} {
			if v, ok := entry[k]; ok && v != nil {
				entry[k] = fmt.Sprint(v)
			}
		}
		if err := decodeStrict(entry, &cloud, "cloud"); err != nil {
			return cloud, err
		}
	case nil:
		if name := os.Getenv("OS_CLOUD"); name != "" {
			found, err := clientconfig.GetCloudFromYAML(&clientconfig.ClientOpts{Cloud: name})
			if err != nil {
				return cloud, fmt.Errorf("OS_CLOUD=%s: %w", name, err)
			}
			cloud = *found
		}
	}
	return cloud, nil
}

// mergeAuth lays the auth option over the entry's auth.
func mergeAuth(entry *clientconfig.AuthInfo, option map[string]any) (*clientconfig.AuthInfo, error) {
	merged := map[string]any{}
	if entry != nil {
		data, err := json.Marshal(entry)
		if err != nil {
			return entry, fmt.Errorf("auth: %w", err)
		}
		if err := json.Unmarshal(data, &merged); err != nil {
			return entry, fmt.Errorf("auth: %w", err)
		}
	}
	for k, v := range option {
		merged[k] = v
	}
	var auth clientconfig.AuthInfo
	if err := decodeStrict(merged, &auth, "auth"); err != nil {
		return entry, err
	}
	return &auth, nil
}

// decodeStrict decodes a clouds.yaml-shaped dict and rejects unknown keys,
// which would otherwise be ignored silently.
func decodeStrict(in map[string]any, out any, what string) error {
	data, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s is not a valid clouds.yaml %s: %w", what, what, err)
	}
	return nil
}

// Connect authenticates and finds the compute and block-storage endpoints.
// Every secret it meets (passwords, application credential secrets, tokens)
// is handed to addSecret before anything can print it.
func Connect(ctx context.Context, o ConnOptions, addSecret func(string)) (*Clients, error) {
	cloud, ao, err := credentials(o, addSecret)
	if err != nil {
		return nil, err
	}
	provider, err := authenticate(ctx, o, cloud, ao)
	if err != nil {
		return nil, err
	}
	addSecret(provider.Token())
	return serviceClients(ctx, provider, cloud, ao.IdentityEndpoint)
}

// credentials are the cloud entry clientconfig makes of the options, and
// the authentication options it draws from it.
func credentials(o ConnOptions, addSecret func(string)) (*clientconfig.Cloud, *gophercloud.AuthOptions, error) {
	cloud, err := ResolveCloud(o)
	if err != nil {
		return nil, nil, err
	}
	if a := cloud.AuthInfo; a != nil {
		addSecret(a.Password)
		addSecret(a.Token)
		addSecret(a.ApplicationCredentialSecret)
	}
	copts := &clientconfig.ClientOpts{Cloud: resolvedName, YAMLOpts: resolvedCloud{cloud}, RegionName: cloud.RegionName}
	final, err := clientconfig.GetCloudFromYAML(copts)
	if err != nil {
		return nil, nil, fmt.Errorf("cloud configuration: %w", err)
	}
	ao, err := clientconfig.AuthOptions(copts)
	if err != nil {
		var missing gophercloud.ErrMissingInput
		if errors.As(err, &missing) {
			return nil, nil, fmt.Errorf("no OpenStack credentials: give cloud (a clouds.yaml entry), auth, or OS_CLOUD/OS_AUTH_URL "+
				"and the other OS_* variables (%v)", err)
		}
		return nil, nil, fmt.Errorf("cloud configuration: %w", err)
	}
	addSecret(ao.Password)
	addSecret(ao.TokenID)
	addSecret(ao.ApplicationCredentialSecret)
	// Tokens expire during long runs; gophercloud re-authenticates only when
	// allowed to keep the credentials. A given token cannot be renewed.
	ao.AllowReauth = ao.TokenID == ""
	return final, ao, nil
}

// authenticate makes the provider client, every request of which the
// module's context bounds, and authenticates it.
func authenticate(ctx context.Context, o ConnOptions, cloud *clientconfig.Cloud, ao *gophercloud.AuthOptions) (*gophercloud.ProviderClient, error) {
	tlsConfig, err := clientconfig.PrepareTLSConfig("OS_", cloud)
	if err != nil {
		return nil, fmt.Errorf("TLS settings: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig

	provider, err := gopenstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, fmt.Errorf("auth_url %q: %w", ao.IdentityEndpoint, err)
	}
	provider.HTTPClient = http.Client{Transport: boundTransport{ctx: ctx, next: transport}, Timeout: o.APITimeout}
	provider.UserAgent.Prepend("cinder.multiattach")
	provider.RetryFunc = func(rctx context.Context, method, u string, opts *gophercloud.RequestOpts, err error, n uint) error {
		return retryTransient(bound(ctx, rctx), method, u, opts, err, n)
	}
	if err := gopenstack.Authenticate(ctx, provider, *ao); err != nil {
		return nil, fmt.Errorf("authentication at %s failed: %w", ao.IdentityEndpoint, err)
	}
	return provider, nil
}

// serviceClients finds the compute and block-storage endpoints of the
// cloud's region and interface, and checks that Nova speaks
// ComputeMicroversion.
func serviceClients(ctx context.Context, provider *gophercloud.ProviderClient, cloud *clientconfig.Cloud, authURL string) (*Clients, error) {
	region := cloud.RegionName
	if region == "" {
		region = os.Getenv("OS_REGION_NAME")
	}
	iface := cloud.EndpointType
	if iface == "" {
		iface = os.Getenv("OS_INTERFACE")
	}
	if iface == "" {
		iface = "public"
	}
	eo := gophercloud.EndpointOpts{Region: region, Availability: clientconfig.GetEndpointType(iface)}
	where := fmt.Sprintf("interface %s", iface)
	if region != "" {
		where += ", region " + region
	}
	compute, err := gopenstack.NewComputeV2(provider, eo)
	if err != nil {
		return nil, fmt.Errorf("no compute (Nova) endpoint in the service catalog (%s): %w", where, err)
	}
	volume, err := gopenstack.NewBlockStorageV3(provider, eo)
	if err != nil {
		return nil, fmt.Errorf("no block-storage v3 (Cinder) endpoint in the service catalog (%s): %w", where, err)
	}
	clients := &Clients{Provider: provider, Volume: volume, AuthURL: authURL}
	if err := clients.setCompute(ctx, compute); err != nil {
		return nil, err
	}
	return clients, nil
}

// setCompute gives the clients their compute clients, at
// ComputeMicroversion and, when Nova has it, detailsMicroversion.
func (c *Clients) setCompute(ctx context.Context, compute *gophercloud.ServiceClient) error {
	supported, err := utils.GetSupportedMicroversions(ctx, compute)
	if err != nil {
		return fmt.Errorf("compute API at %s: cannot read its microversions: %w", compute.Endpoint, err)
	}
	if ok, _ := supported.IsSupported(ComputeMicroversion); !ok {
		return fmt.Errorf("the compute API at %s supports microversions %d.%d to %d.%d; attaching a volume to "+
			"several servers needs %s (OpenStack Queens or newer)", compute.Endpoint, supported.MinMajor,
			supported.MinMinor, supported.MaxMajor, supported.MaxMinor, ComputeMicroversion)
	}
	pinned := *compute
	pinned.Microversion = ComputeMicroversion
	c.Compute = &pinned
	if ok, _ := supported.IsSupported(detailsMicroversion); ok {
		d := *compute
		d.Microversion = detailsMicroversion
		c.ComputeDetails = &d
	}
	return nil
}

// boundTransport bounds every request by the module's context. gophercloud
// makes some requests with context.TODO() (the version discovery of an
// endpoint whose catalog URL has no version, a re-authentication), which
// the task's timeout must end too.
type boundTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (b boundTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if ctx := bound(b.ctx, r.Context()); ctx != r.Context() {
		r = r.WithContext(ctx)
	}
	return b.next.RoundTrip(r)
}

// bound is the request's context, or the module's when the request's can
// never end.
func bound(module, request context.Context) context.Context {
	if request.Done() == nil {
		return module
	}
	return request
}

// StatusCode is the HTTP status of an API error.
func StatusCode(err error) (int, bool) {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		return code.Actual, true
	}
	var pcode *gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &pcode) {
		return pcode.Actual, true
	}
	return 0, false
}

// APIMessage is the human part of an OpenStack error body
// ({"badRequest": {"message": ...}}), or the error text.
func APIMessage(err error) string {
	var body []byte
	var code gophercloud.ErrUnexpectedResponseCode
	var pcode *gophercloud.ErrUnexpectedResponseCode
	switch {
	case errors.As(err, &code):
		body = code.Body
	case errors.As(err, &pcode):
		body = pcode.Body
	default:
		return err.Error()
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) == nil {
		keys := make([]string, 0, len(doc))
		for k := range doc {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var inner struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(doc[k], &inner) == nil && inner.Message != "" {
				return inner.Message
			}
		}
	}
	if len(body) > 0 {
		return strings.TrimSpace(string(body))
	}
	return err.Error()
}
