package lean

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"leancloud.local/provider/internal/client"
	"leancloud.local/provider/internal/documents"
)

// DefaultWaitTimeout is how long an apply waits for an app to run, unless wait_timeout says otherwise.
const DefaultWaitTimeout = "5m"

// documentResource is an app document of one kind (lean_app: wasm-service,
// lean_vm: vm) at lean-cloud/apps/<name>. Its state is the stored document,
// read back on every refresh, with the specIndex it was read at: every write
// and delete is a check-and-set on that index.
type documentResource struct {
	typeName string
	kind     string
	fields   []documents.Field
	about    string
	client   *client.Client
}

var (
	_ resource.ResourceWithConfigure   = (*documentResource)(nil)
	_ resource.ResourceWithImportState = (*documentResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*documentResource)(nil)
)

// NewAppResource is lean_app: a wasm service.
func NewAppResource() resource.Resource {
	return &documentResource{
		typeName: "app", kind: "wasm-service", fields: documents.WasmServiceFields,
		about: "A wasm service (an app document of kind wasm-service).",
	}
}

// NewVMResource is lean_vm: virtual machines.
func NewVMResource() resource.Resource {
	return &documentResource{
		typeName: "vm", kind: "vm", fields: documents.VMFields,
		about: "Virtual machines (an app document of kind vm).",
	}
}

func (r *documentResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.typeName
}

func (r *documentResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := documentAttributes(r.fields)
	attrs["id"] = schema.StringAttribute{
		Computed: true, Description: "The app's name.",
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
	}
	attrs["name"] = schema.StringAttribute{
		Required: true, Description: "The app's name: its key is lean-cloud/apps/<name>. Changing it replaces the app.",
		PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
	}
	attrs["spec_index"] = schema.Int64Attribute{
		Computed:    true,
		Description: "The document's Consul ModifyIndex when last written or read: the next write or delete happens only if the key is still at it.",
	}
	attrs["wait_timeout"] = schema.StringAttribute{
		Optional: true, Computed: true, Default: stringdefault.StaticString(DefaultWaitTimeout),
		Description: "How long an apply waits for the app to be running (or stopped, as asked), e.g. 10m; 0s: do not wait. Not part of the document.",
	}
	resp.Schema = schema.Schema{Description: r.about + " Written through the controller, which validates it with the cloud's one validator.", Attributes: attrs}
}

func (r *documentResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if req.ProviderData == nil {
		return
	}
	c, ok := req.ProviderData.(*client.Client)
	if !ok {
		resp.Diagnostics.AddError("Unexpected provider data", fmt.Sprintf("expected *client.Client, got %T", req.ProviderData))
		return
	}
	r.client = c
}

// ModifyPlan checks a fully known planned document with the controller's validator, so a refusal shows at plan time.
func (r *documentResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.client == nil {
		return
	}
	var name types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("name"), &name)...)
	if name.IsUnknown() || name.IsNull() {
		return
	}
	doc, err := documents.Encode(r.kind, r.fields, req.Plan.Raw)
	if errors.Is(err, documents.ErrUnknown) {
		return // checked at apply, once every value is known
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot build the app document", err.Error())
		return
	}
	r.refused(&resp.Diagnostics, name.ValueString(), r.client.ValidateApp(ctx, name.ValueString(), doc))
}

// refused adds err as a diagnostic: a document problem on the attribute its field names.
func (r *documentResource) refused(diags *diag.Diagnostics, name string, err error) {
	if err == nil {
		return
	}
	var api *client.APIError
	if errors.As(err, &api) && api.Code == "LEAN_ERR_SPEC_INVALID" {
		at := documents.AttributePath(r.fields, api.Field)
		summary := fmt.Sprintf("Invalid %s document for app %s", r.kind, name)
		if len(at.Steps()) == 0 {
			diags.AddError(summary, api.Message)
		} else {
			// The attribute in the summary too: OpenTofu points at the block when the value came from elsewhere.
			diags.AddAttributeError(at, fmt.Sprintf("%s: attribute %s", summary, at), api.Message)
		}
		return
	}
	diags.AddError(fmt.Sprintf("App %s", name), err.Error())
}

func (r *documentResource) names(ctx context.Context, get func(context.Context, path.Path, any) diag.Diagnostics, diags *diag.Diagnostics) (string, int64, time.Duration) {
	var name, timeout types.String
	var index types.Int64
	diags.Append(get(ctx, path.Root("name"), &name)...)
	diags.Append(get(ctx, path.Root("spec_index"), &index)...)
	diags.Append(get(ctx, path.Root("wait_timeout"), &timeout)...)
	wait := time.Duration(0)
	if t := timeout.ValueString(); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 {
			diags.AddAttributeError(path.Root("wait_timeout"), "Invalid wait_timeout", fmt.Sprintf("expected a duration such as 5m or 90s, got %q", t))
		}
		wait = d
	}
	return name.ValueString(), index.ValueInt64(), wait
}

func (r *documentResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	name, _, wait := r.names(ctx, req.Plan.GetAttribute, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.write(ctx, name, 0, wait, req.Plan.Raw, &resp.State, &resp.Diagnostics)
}

func (r *documentResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	name, _, wait := r.names(ctx, req.Plan.GetAttribute, &resp.Diagnostics)
	_, index, _ := r.names(ctx, req.State.GetAttribute, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.write(ctx, name, index, wait, req.Plan.Raw, &resp.State, &resp.Diagnostics)
}

// write puts the planned document if the key is still at index (0: absent),
// records the new specIndex, then waits for the app to settle.
func (r *documentResource) write(ctx context.Context, name string, index int64, wait time.Duration, plan tftypes.Value, state *tfsdk.State, diags *diag.Diagnostics) {
	doc, err := documents.Encode(r.kind, r.fields, plan)
	if err != nil {
		diags.AddError("Cannot build the app document", err.Error())
		return
	}
	written, err := r.client.PutApp(ctx, name, doc, index)
	if client.IsStatus(err, http.StatusPreconditionFailed) {
		diags.AddError(fmt.Sprintf("App %s changed outside OpenTofu", name), preconditionDetail(name, index, err))
		return
	}
	if err != nil {
		r.refused(diags, name, err)
		return
	}
	state.Raw = plan
	diags.Append(state.SetAttribute(ctx, path.Root("id"), name)...)
	diags.Append(state.SetAttribute(ctx, path.Root("spec_index"), written.SpecIndex)...)
	if diags.HasError() {
		return
	}
	if err := waitSettled(ctx, r.client, name, written.SpecIndex, wait); err != nil {
		diags.AddError(fmt.Sprintf("App %s was written (specIndex %d) but does not run", name, written.SpecIndex), err.Error())
	}
}

func preconditionDetail(name string, index int64, err error) string {
	if index == 0 {
		return fmt.Sprintf("%s\nAn app named %s exists already: take it over with `tofu import <resource address> %s`, or choose another name.", err, name, name)
	}
	return fmt.Sprintf("%s\nIts document was changed since OpenTofu last read it (at specIndex %d), and that change was not overwritten. Run `tofu plan` again to see it, then apply.", err, index)
}

func (r *documentResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var name, timeout types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("name"), &name)...)
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("wait_timeout"), &timeout)...)
	if resp.Diagnostics.HasError() {
		return
	}
	app, err := r.client.GetApp(ctx, name.ValueString())
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot read app %s", name.ValueString()), err.Error())
		return
	}
	if app == nil {
		resp.State.RemoveResource(ctx) // deleted outside OpenTofu: the next plan creates it again
		return
	}
	doc, err := documents.ParseStored(app.Spec)
	if err == nil && doc["kind"] != r.kind {
		err = fmt.Errorf("its document is of kind %v, not %s: declare it with the resource of that kind", doc["kind"], r.kind)
	}
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("App %s", name.ValueString()), err.Error())
		return
	}
	typ, ok := resp.State.Schema.Type().TerraformType(ctx).(tftypes.Object)
	if !ok {
		resp.Diagnostics.AddError("Unexpected schema", "the resource's type is not an object")
		return
	}
	values, problems := documents.Decode(r.fields, doc, typ)
	for _, p := range problems {
		resp.Diagnostics.AddWarning(fmt.Sprintf("App %s: the stored document has what the provider cannot show", name.ValueString()), p)
	}
	if timeout.IsNull() || timeout.IsUnknown() {
		timeout = types.StringValue(DefaultWaitTimeout) // imported: the default
	}
	values["id"] = tftypes.NewValue(tftypes.String, app.Name)
	values["name"] = tftypes.NewValue(tftypes.String, app.Name)
	values["spec_index"] = tftypes.NewValue(tftypes.Number, new(big.Float).SetInt64(app.SpecIndex))
	values["wait_timeout"] = tftypes.NewValue(tftypes.String, timeout.ValueString())
	resp.State.Raw = tftypes.NewValue(typ, values)
}

func (r *documentResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	name, index, _ := r.names(ctx, req.State.GetAttribute, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.client.DeleteApp(ctx, name, index)
	switch {
	case err == nil, client.IsStatus(err, http.StatusNotFound):
	case client.IsStatus(err, http.StatusPreconditionFailed):
		resp.Diagnostics.AddError(fmt.Sprintf("App %s changed outside OpenTofu; it was not deleted", name), preconditionDetail(name, index, err))
	default:
		resp.Diagnostics.AddError(fmt.Sprintf("Cannot delete app %s", name), err.Error())
	}
}

// ImportState takes an existing app by name; the refresh that follows reads its document.
func (r *documentResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("name"), req, resp)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
}
