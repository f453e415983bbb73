package lean

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"leancloud.local/provider/internal/documents"
)

// docs/opentofu.md is the provider's reference: every attribute is in it.
func TestTheReferenceNamesEveryAttribute(t *testing.T) {
	raw, err := os.ReadFile("../../../docs/opentofu.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	missing := func(what, name string) {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("%s: docs/opentofu.md does not name `%s`", what, name)
		}
	}
	ctx := context.Background()
	p := New("test")()
	var ps provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &ps)
	for name := range ps.Schema.Attributes {
		missing("provider", name)
	}
	for _, f := range p.Resources(ctx) {
		r := f()
		var rs resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &rs)
		for name := range rs.Schema.Attributes {
			missing("resource", name)
		}
		if d, ok := r.(*documentResource); ok {
			var walk func(prefix string, fields []documents.Field)
			walk = func(prefix string, fields []documents.Field) {
				for _, f := range fields {
					missing(d.typeName, prefix+f.Attr)
					switch f.Kind {
					case documents.Object:
						walk(prefix+f.Attr+".", f.Fields)
					case documents.ObjectList:
						walk(prefix+f.Attr+"[].", f.Fields)
					}
				}
			}
			walk("", d.fields)
		}
	}
	for _, f := range p.DataSources(ctx) {
		var ds datasource.SchemaResponse
		f().Schema(ctx, datasource.SchemaRequest{}, &ds)
		for name := range ds.Schema.Attributes {
			if name == "healthy" || name == "desired" {
				name = "healthy`, `desired" // one row
			}
			missing("data source", name)
		}
	}
	for _, name := range []string{"id", "node", "client_status", "task_state", "accelerator", "address", "ports"} {
		missing("lean_vm allocations", name)
	}
}
