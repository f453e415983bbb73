package lean

import (
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"leancloud.local/provider/internal/documents"
)

// documentAttributes are the resource attributes of a document's fields: all
// optional, so that what is required, and every range and pattern, is the
// controller's validator's to say, in its own words.
func documentAttributes(fields []documents.Field) map[string]schema.Attribute {
	out := map[string]schema.Attribute{}
	for _, f := range fields {
		out[f.Attr] = documentAttribute(f)
	}
	return out
}

func documentAttribute(f documents.Field) schema.Attribute {
	d := f.Description
	switch f.Kind {
	case documents.String:
		return schema.StringAttribute{Optional: true, Description: d}
	case documents.Int:
		return schema.Int64Attribute{Optional: true, Description: d}
	case documents.Bool:
		return schema.BoolAttribute{Optional: true, Description: d}
	case documents.StringList:
		return schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: d}
	case documents.StringMap:
		return schema.MapAttribute{Optional: true, ElementType: types.StringType, Description: d}
	case documents.IntMap:
		return schema.MapAttribute{Optional: true, ElementType: types.Int64Type, Description: d}
	case documents.Object:
		return schema.SingleNestedAttribute{Optional: true, Attributes: documentAttributes(f.Fields), Description: d}
	case documents.ObjectList:
		return schema.ListNestedAttribute{
			Optional:     true,
			NestedObject: schema.NestedAttributeObject{Attributes: documentAttributes(f.Fields)},
			Description:  d,
		}
	}
	panic("documents: unknown kind of field " + f.Attr)
}
