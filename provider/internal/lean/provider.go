// Package lean is the `lean` provider: Lean Cloud apps, VMs, components and
// VM images declared with OpenTofu, written through the controller's HTTP API.
package lean

import (
	"context"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"leancloud.local/provider/internal/client"
)

// The environment variables the settings fall back to: leanctl's and cloud.env's names.
const (
	EnvAddress = "LEAN_CONTROLLER_ADDR"
	EnvToken   = "CONSUL_HTTP_TOKEN"
	EnvCA      = "LEAN_CONTROLLER_CACERT"
	// EnvCloudCA is the cloud's CA in cloud.env, used when EnvCA is not set.
	EnvCloudCA = "CONSUL_CACERT"
	// DefaultAddress is where the local cloud's controller listens.
	DefaultAddress = "http://127.0.0.1:4680"
)

type leanProvider struct{ version string }

// New returns the provider, reporting version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &leanProvider{version: version} }
}

type providerModel struct {
	Address types.String `tfsdk:"address"`
	Token   types.String `tfsdk:"token"`
	CAFile  types.String `tfsdk:"ca_file"`
}

func (p *leanProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "lean"
	resp.Version = p.version
}

func (p *leanProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Lean Cloud: wasm services, VMs, components and VM images, written through the controller's HTTP API with check-and-set.",
		Attributes: map[string]schema.Attribute{
			"address": schema.StringAttribute{
				Optional:    true,
				Description: "The controller's HTTP API. Default: $" + EnvAddress + ", else " + DefaultAddress + ".",
			},
			"token": schema.StringAttribute{
				Optional:    true,
				Sensitive:   true,
				Description: "The operator's Consul token; the controller reads and writes Consul KV with it. Default: $" + EnvToken + ".",
			},
			"ca_file": schema.StringAttribute{
				Optional:    true,
				Description: "PEM file of the CA an https controller's certificate chains to. Default: $" + EnvCA + ", else $" + EnvCloudCA + " (the cloud's CA in cloud.env), else the system's roots.",
			},
		},
	}
}

// setting is the configured value, else the first environment variable set, else fallback.
func setting(configured types.String, fallback string, env ...string) string {
	if !configured.IsNull() && !configured.IsUnknown() && configured.ValueString() != "" {
		return configured.ValueString()
	}
	for _, name := range env {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return fallback
}

func (p *leanProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	address := setting(cfg.Address, DefaultAddress, EnvAddress)
	caFile := ""
	// The CA matters only for https; cloud.env always names one, also for an http controller.
	if len(address) > 8 && address[:8] == "https://" {
		caFile = setting(cfg.CAFile, "", EnvCA, EnvCloudCA)
	}
	c, err := client.New(client.Config{Address: address, Token: setting(cfg.Token, "", EnvToken), CAFile: caFile})
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("address"), "Cannot use the controller's settings", err.Error())
		return
	}
	resp.ResourceData = c
	resp.DataSourceData = c
}

func (p *leanProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewAppResource, NewVMResource, NewComponentResource, NewImageResource}
}

func (p *leanProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewAppDataSource, NewVMDataSource}
}
