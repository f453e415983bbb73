package lean

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"leancloud.local/provider/internal/client"
)

// fileDigest is a file's sha256 and size, read in one pass.
func fileDigest(file string) (string, int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func configureClient(data any, diags interface{ AddError(string, string) }) *client.Client {
	if data == nil {
		return nil
	}
	c, ok := data.(*client.Client)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected *client.Client, got %T", data))
	}
	return c
}

// componentResource is lean_component: a .wasm file pushed by its digest
// (HEAD, then PUT only when the controller does not have it). Content-addressed
// and shared: destroying it forgets it, and leaves the object in S3, where
// other apps may use it.
type componentResource struct{ client *client.Client }

type componentModel struct {
	ID     types.String `tfsdk:"id"`
	File   types.String `tfsdk:"file"`
	SHA256 types.String `tfsdk:"sha256"`
	Size   types.Int64  `tfsdk:"size"`
}

var (
	_ resource.ResourceWithConfigure  = (*componentResource)(nil)
	_ resource.ResourceWithModifyPlan = (*componentResource)(nil)
)

// NewComponentResource is lean_component.
func NewComponentResource() resource.Resource { return &componentResource{} }

func (r *componentResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_component"
}

func (r *componentResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A wasi:http component uploaded by its sha256 to s3://artifacts/components/<sha256>.wasm through the controller, which checks the digest and inspects it. Destroying it leaves the object in S3 (other apps may use it).",
		Attributes: map[string]schema.Attribute{
			"id":     schema.StringAttribute{Computed: true, Description: "The sha256."},
			"file":   schema.StringAttribute{Required: true, Description: "Path of the .wasm file."},
			"sha256": schema.StringAttribute{Computed: true, Description: "The file's sha256, known at plan time: what lean_app's component.sha256 takes."},
			"size":   schema.Int64Attribute{Computed: true, Description: "The file's size in bytes."},
		},
	}
}

func (r *componentResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = configureClient(req.ProviderData, &resp.Diagnostics)
}

// ModifyPlan digests the file, so its sha256 is known while planning and a new build is a change.
func (r *componentResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan componentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.File.IsUnknown() {
		return
	}
	sum, size, err := fileDigest(plan.File.ValueString())
	if err != nil && !req.State.Raw.IsNull() {
		// An uploaded component whose file is gone can still be destroyed: plan with what was uploaded.
		resp.Diagnostics.AddAttributeWarning(path.Root("file"), "Cannot read the component; planning with the digest uploaded before", err.Error())
		return
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("file"), "Cannot read the component", err.Error())
		return
	}
	plan.ID, plan.SHA256, plan.Size = types.StringValue(sum), types.StringValue(sum), types.Int64Value(size)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, plan)...)
}

func (r *componentResource) push(ctx context.Context, plan componentModel, diags interface{ AddError(string, string) }) {
	file := plan.File.ValueString()
	sum, size, err := fileDigest(file)
	if err != nil {
		diags.AddError("Cannot read the component", err.Error())
		return
	}
	if sum != plan.SHA256.ValueString() {
		diags.AddError("The component changed since the plan", fmt.Sprintf("%s: sha256 %s now, %s when planned; plan again", file, sum, plan.SHA256.ValueString()))
		return
	}
	stored, err := r.client.HasComponent(ctx, sum)
	if err == nil && !stored {
		var f *os.File
		if f, err = os.Open(file); err == nil {
			err = r.client.PutComponent(ctx, sum, f, size)
			f.Close()
		}
	}
	if err != nil {
		diags.AddError(fmt.Sprintf("Cannot upload the component %s", file), err.Error())
	}
}

// storePlanned uploads what the plan names and, when that worked, records the
// plan as the state: Create and Update of an artefact do the same, since an
// artefact is named by its digest and uploading it again is harmless.
func storePlanned[M any](ctx context.Context, plan tfsdk.Plan, state *tfsdk.State, diags *diag.Diagnostics, upload func(context.Context, M, interface{ AddError(string, string) })) {
	var m M
	diags.Append(plan.Get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	if upload(ctx, m, diags); !diags.HasError() {
		diags.Append(state.Set(ctx, m)...)
	}
}

func (r *componentResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	storePlanned(ctx, req.Plan, &resp.State, &resp.Diagnostics, r.push)
}

func (r *componentResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	storePlanned(ctx, req.Plan, &resp.State, &resp.Diagnostics, r.push)
}

// Read: a component no longer stored is gone from the state, so the next plan uploads it again.
func (r *componentResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state componentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	stored, err := r.client.HasComponent(ctx, state.SHA256.ValueString())
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the component", err.Error())
		return
	}
	if !stored {
		resp.State.RemoveResource(ctx)
	}
}

func (r *componentResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}

// imageResource is lean_image: a VM image manifest and the files it names,
// found beside it as <sha256>.<ext> (the layout of build:images' store),
// uploaded through the controller, files first. Destroying it leaves them in S3.
type imageResource struct{ client *client.Client }

type imageModel struct {
	ID       types.String `tfsdk:"id"`
	Manifest types.String `tfsdk:"manifest"`
	SHA256   types.String `tfsdk:"sha256"`
	Name     types.String `tfsdk:"name"`
	Files    types.List   `tfsdk:"files"`
}

var (
	_ resource.ResourceWithConfigure  = (*imageResource)(nil)
	_ resource.ResourceWithModifyPlan = (*imageResource)(nil)
)

// NewImageResource is lean_image.
func NewImageResource() resource.Resource { return &imageResource{} }

func (r *imageResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_image"
}

func (r *imageResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A VM image: its manifest and the files it names, uploaded through the controller, which verifies every digest. Destroying it leaves them in S3.",
		Attributes: map[string]schema.Attribute{
			"id":       schema.StringAttribute{Computed: true, Description: "The manifest's sha256."},
			"manifest": schema.StringAttribute{Required: true, Description: "Path of the manifest (<sha256>.json); each file it names is read from the same folder as <sha256>.<ext> unless the controller has it."},
			"sha256":   schema.StringAttribute{Computed: true, Description: "The manifest's sha256, known at plan time: what lean_vm's image.sha256 takes."},
			"name":     schema.StringAttribute{Computed: true, Description: "The image's name, from the manifest."},
			"files":    schema.ListAttribute{Computed: true, ElementType: types.StringType, Description: "The files it names, as images/<sha256>.<ext>."},
		},
	}
}

func (r *imageResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = configureClient(req.ProviderData, &resp.Diagnostics)
}

type manifestFile struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ImageManifest is what the provider reads of a manifest (ground/image-manifest.ts).
type ImageManifest struct {
	Name string `json:"name"`
	Boot struct {
		Kind   string        `json:"kind"`
		Kernel *manifestFile `json:"kernel"`
		Initrd *manifestFile `json:"initrd"`
		Disk   *manifestFile `json:"disk"`
	} `json:"boot"`
}

// Files are the files a manifest names, in fetch order.
func (m ImageManifest) Files() []manifestFile {
	var out []manifestFile
	for _, f := range []*manifestFile{m.Boot.Kernel, m.Boot.Initrd, m.Boot.Disk} {
		if f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// readManifest returns a manifest's bytes, digest and what it names.
func readManifest(file string) ([]byte, string, ImageManifest, error) {
	var m ImageManifest
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, "", m, err
	}
	sum := sha256.Sum256(raw)
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", m, fmt.Errorf("%s: not an image manifest: %w", file, err)
	}
	for _, f := range m.Files() {
		if !strings.HasPrefix(f.Key, "images/") || strings.Contains(f.Key[len("images/"):], "/") {
			return nil, "", m, fmt.Errorf("%s: a file key %q is not images/<sha256>.<ext>", file, f.Key)
		}
	}
	return raw, hex.EncodeToString(sum[:]), m, nil
}

func (r *imageResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan imageModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Manifest.IsUnknown() {
		return
	}
	_, sum, m, err := readManifest(plan.Manifest.ValueString())
	if err != nil && !req.State.Raw.IsNull() {
		// An uploaded image whose manifest is gone can still be destroyed: plan with what was uploaded.
		resp.Diagnostics.AddAttributeWarning(path.Root("manifest"), "Cannot read the image manifest; planning with the image uploaded before", err.Error())
		return
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("manifest"), "Cannot read the image manifest", err.Error())
		return
	}
	keys := []string{}
	for _, f := range m.Files() {
		keys = append(keys, f.Key)
	}
	files, diags := types.ListValueFrom(ctx, types.StringType, keys)
	resp.Diagnostics.Append(diags...)
	plan.ID, plan.SHA256, plan.Name, plan.Files = types.StringValue(sum), types.StringValue(sum), types.StringValue(m.Name), files
	resp.Diagnostics.Append(resp.Plan.Set(ctx, plan)...)
}

func (r *imageResource) upload(ctx context.Context, plan imageModel, diags interface{ AddError(string, string) }) {
	file := plan.Manifest.ValueString()
	raw, sum, m, err := readManifest(file)
	if err == nil && sum != plan.SHA256.ValueString() {
		err = fmt.Errorf("%s: sha256 %s now, %s when planned; plan again", file, sum, plan.SHA256.ValueString())
	}
	for _, f := range m.Files() {
		if err != nil {
			break
		}
		name := f.Key[len("images/"):]
		var stored bool
		if stored, err = r.client.HasImageFile(ctx, name); err != nil || stored {
			continue
		}
		var fh *os.File
		if fh, err = os.Open(filepath.Join(filepath.Dir(file), name)); err != nil {
			err = fmt.Errorf("%w; the manifest names %s, which the controller does not have either", err, f.Key)
			break
		}
		err = r.client.PutImageFile(ctx, name, fh, f.Size)
		fh.Close()
	}
	if err == nil {
		err = r.client.PutImageManifest(ctx, sum, raw)
	}
	if err != nil {
		diags.AddError(fmt.Sprintf("Cannot upload the image %s", file), err.Error())
	}
}

func (r *imageResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	storePlanned(ctx, req.Plan, &resp.State, &resp.Diagnostics, r.upload)
}

func (r *imageResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	storePlanned(ctx, req.Plan, &resp.State, &resp.Diagnostics, r.upload)
}

// Read: an image no longer listed is gone from the state, so the next plan uploads it again.
func (r *imageResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state imageModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	images, err := r.client.Images(ctx)
	if err != nil {
		resp.Diagnostics.AddError("Cannot list the images", err.Error())
		return
	}
	for _, img := range images {
		if img.SHA256 == state.SHA256.ValueString() && img.Error == "" {
			return
		}
	}
	resp.State.RemoveResource(ctx)
}

func (r *imageResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

func jsonUnmarshal(raw []byte, out any) error { return json.Unmarshal(raw, out) }
