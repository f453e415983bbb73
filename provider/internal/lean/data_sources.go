package lean

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"leancloud.local/provider/internal/client"
)

// statusModel is what both data sources say of an app.
type statusModel struct {
	Name          types.String `tfsdk:"name"`
	Kind          types.String `tfsdk:"kind"`
	Document      types.String `tfsdk:"document"`
	SpecIndex     types.Int64  `tfsdk:"spec_index"`
	ObservedIndex types.Int64  `tfsdk:"observed_index"`
	Phase         types.String `tfsdk:"phase"`
	Healthy       types.Int64  `tfsdk:"healthy"`
	Desired       types.Int64  `tfsdk:"desired"`
	LastError     types.String `tfsdk:"last_error"`
	JobVersion    types.Int64  `tfsdk:"job_version"`
	Transitioned  types.String `tfsdk:"last_transition_time"`
	Addresses     types.List   `tfsdk:"addresses"`
	RuntimeError  types.String `tfsdk:"runtime_error"`
}

func statusAttributes(what string) map[string]schema.Attribute {
	computed := func(d string) schema.StringAttribute { return schema.StringAttribute{Computed: true, Description: d} }
	number := func(d string) schema.Int64Attribute { return schema.Int64Attribute{Computed: true, Description: d} }
	return map[string]schema.Attribute{
		"name":                 schema.StringAttribute{Required: true, Description: "The " + what + "'s name."},
		"kind":                 computed("wasm-service or vm."),
		"document":             computed("The stored document, as JSON."),
		"spec_index":           number("The document's Consul ModifyIndex."),
		"observed_index":       number("The document's index the status describes (older than spec_index while the controller catches up)."),
		"phase":                computed("pending, deploying, running, unhealthy, stopped, failed or invalid; pending before the controller has written a status."),
		"healthy":              number("Allocations that pass their Consul checks."),
		"desired":              number("Allocations the document asks for."),
		"last_error":           computed("The status's last error, if any."),
		"job_version":          number("The Nomad job's version, if registered."),
		"last_transition_time": computed("When the phase last changed (RFC 3339)."),
		"addresses":            schema.ListAttribute{Computed: true, ElementType: types.StringType, Description: "host:port of each port of the running allocations, from Nomad."},
		"runtime_error":        computed("Why addresses is empty when the controller could not read Nomad."),
	}
}

func fillStatus(ctx context.Context, m *statusModel, kind string, spec []byte, index int64, s *client.Status, addresses []string, runtimeError string) diag.Diagnostics {
	m.Kind, m.Document, m.SpecIndex = types.StringValue(kind), types.StringValue(string(spec)), types.Int64Value(index)
	m.Phase, m.ObservedIndex, m.Healthy, m.Desired = types.StringValue("pending"), types.Int64Null(), types.Int64Value(0), types.Int64Value(0)
	m.LastError, m.JobVersion, m.Transitioned = types.StringNull(), types.Int64Null(), types.StringNull()
	if s != nil {
		m.Phase, m.ObservedIndex = types.StringValue(s.Phase), types.Int64Value(s.ObservedIndex)
		m.Healthy, m.Desired = types.Int64Value(s.Healthy), types.Int64Value(s.Desired)
		m.LastError, m.JobVersion = types.StringPointerValue(s.LastError), types.Int64PointerValue(s.JobVersion)
		m.Transitioned = types.StringValue(s.LastTransitionTime)
	}
	if addresses == nil {
		addresses = []string{}
	}
	list, diags := types.ListValueFrom(ctx, types.StringType, addresses)
	m.Addresses = list
	m.RuntimeError = types.StringNull()
	if runtimeError != "" {
		m.RuntimeError = types.StringValue(runtimeError)
	}
	return diags
}

func kindOf(spec []byte) string {
	var doc struct {
		Kind string `json:"kind"`
	}
	_ = jsonUnmarshal(spec, &doc)
	return doc.Kind
}

// appDataSource is data "lean_app": any app's document and status.
type appDataSource struct{ client *client.Client }

// NewAppDataSource is data "lean_app".
func NewAppDataSource() datasource.DataSource { return &appDataSource{} }

func (d *appDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_app"
}

func (d *appDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "An app's stored document and the controller's status of it (any kind).",
		Attributes:  statusAttributes("app"),
	}
}

func (d *appDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = configureClient(req.ProviderData, &resp.Diagnostics)
}

func (d *appDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m statusModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	app, err := d.client.GetApp(ctx, m.Name.ValueString())
	if err == nil && app == nil {
		err = fmt.Errorf("no app named %s", m.Name.ValueString())
	}
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot read app %s", m.Name.ValueString()), err.Error())
		return
	}
	resp.Diagnostics.Append(fillStatus(ctx, &m, kindOf(app.Spec), app.Spec, app.SpecIndex, app.Status, app.Addresses, app.RuntimeError)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

// vmDataSource is data "lean_vm": a vm app's status and each VM's address and ports.
type vmDataSource struct{ client *client.Client }

type vmModel struct {
	statusModel
	State       types.String `tfsdk:"state"`
	Allocations types.List   `tfsdk:"allocations"`
}

var vmAllocationType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"id":            types.StringType,
	"node":          types.StringType,
	"client_status": types.StringType,
	"task_state":    types.StringType,
	"accelerator":   types.StringType,
	"address":       types.StringType,
	"ports":         types.MapType{ElemType: types.StringType},
}}

// NewVMDataSource is data "lean_vm".
func NewVMDataSource() datasource.DataSource { return &vmDataSource{} }

func (d *vmDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_vm"
}

func (d *vmDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := statusAttributes("vm app")
	attrs["state"] = schema.StringAttribute{Computed: true, Description: "The document's desired state: running or stopped."}
	attrs["allocations"] = schema.ListNestedAttribute{
		Computed:    true,
		Description: "Each VM as Nomad has it now.",
		NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
			"id":            schema.StringAttribute{Computed: true, Description: "The allocation's ID."},
			"node":          schema.StringAttribute{Computed: true, Description: "The node it is on."},
			"client_status": schema.StringAttribute{Computed: true, Description: "pending, running, complete, failed or lost."},
			"task_state":    schema.StringAttribute{Computed: true, Description: "The VM task's state."},
			"accelerator":   schema.StringAttribute{Computed: true, Description: "kvm or tcg."},
			"address":       schema.StringAttribute{Computed: true, Description: "The host address its ports are forwarded from."},
			"ports":         schema.MapAttribute{Computed: true, ElementType: types.StringType, Description: "Port label → host:port."},
		}},
	}
	resp.Schema = schema.Schema{Description: "A vm app's stored document, status and VMs.", Attributes: attrs}
}

func (d *vmDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = configureClient(req.ProviderData, &resp.Diagnostics)
}

func (d *vmDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m vmModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	vm, err := d.client.GetVM(ctx, m.Name.ValueString())
	if err == nil && vm == nil {
		err = fmt.Errorf("no vm named %s", m.Name.ValueString())
	}
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot read vm %s", m.Name.ValueString()), err.Error())
		return
	}
	var addresses []string
	allocations := []attr.Value{}
	for _, a := range vm.Allocations {
		ports, diags := types.MapValueFrom(ctx, types.StringType, a.Ports)
		resp.Diagnostics.Append(diags...)
		if a.ClientStatus == "running" {
			for _, hp := range a.Ports {
				addresses = append(addresses, hp)
			}
		}
		obj, diags := types.ObjectValue(vmAllocationType.AttrTypes, map[string]attr.Value{
			"id": types.StringValue(a.ID), "node": types.StringPointerValue(a.Node),
			"client_status": types.StringValue(a.ClientStatus), "task_state": types.StringPointerValue(a.TaskState),
			"accelerator": types.StringPointerValue(a.Accelerator), "address": types.StringPointerValue(a.Address),
			"ports": ports,
		})
		resp.Diagnostics.Append(diags...)
		allocations = append(allocations, obj)
	}
	sort.Strings(addresses)
	resp.Diagnostics.Append(fillStatus(ctx, &m.statusModel, "vm", vm.Spec, vm.SpecIndex, vm.Status, addresses, vm.RuntimeError)...)
	var spec struct {
		State string `json:"state"`
	}
	_ = jsonUnmarshal(vm.Spec, &spec)
	if spec.State == "" {
		spec.State = "running"
	}
	m.State = types.StringValue(spec.State)
	list, diags := types.ListValue(vmAllocationType, allocations)
	resp.Diagnostics.Append(diags...)
	m.Allocations = list
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}
