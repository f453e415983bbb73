package lean

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"leancloud.local/provider/internal/documents"
)

// The resource schemas and the document tables agree: a stored document
// decodes into the schema's own object type.
func TestEveryDocumentFieldIsAnAttributeOfItsResource(t *testing.T) {
	ctx := context.Background()
	for _, r := range []resource.Resource{NewAppResource(), NewVMResource()} {
		var resp resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &resp)
		if resp.Diagnostics.HasError() {
			t.Fatal(resp.Diagnostics)
		}
		if diags := resp.Schema.ValidateImplementation(ctx); diags.HasError() {
			t.Fatalf("schema: %v", diags)
		}
		typ := resp.Schema.Type().TerraformType(ctx).(tftypes.Object)
		d := r.(*documentResource)
		for _, f := range d.fields {
			if _, ok := typ.AttributeTypes[f.Attr]; !ok {
				t.Errorf("%s: no attribute %s", d.typeName, f.Attr)
			}
		}
		values, problems := documents.Decode(d.fields, map[string]any{"kind": d.kind}, typ)
		if len(problems) > 0 || len(values) != len(d.fields) {
			t.Errorf("%s: %v", d.typeName, problems)
		}
	}
}
