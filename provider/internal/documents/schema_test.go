package documents

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

// schemaPaths collects every property path a JSON Schema allows (a.b for
// nested objects, list items and alternatives under the same path).
func schemaPaths(node any, defs map[string]any, prefix string, out map[string]bool) {
	m, ok := node.(map[string]any)
	if !ok {
		return
	}
	if ref, ok := m["$ref"].(string); ok {
		schemaPaths(defs[strings.TrimPrefix(ref, "#/$defs/")], defs, prefix, out)
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for k, v := range props {
			out[prefix+k] = true
			schemaPaths(v, defs, prefix+k+".", out)
		}
	}
	schemaPaths(m["items"], defs, prefix, out)
	for _, key := range []string{"oneOf", "anyOf", "allOf"} {
		if alts, ok := m[key].([]any); ok {
			for _, alt := range alts {
				schemaPaths(alt, defs, prefix, out)
			}
		}
	}
}

func tablePaths(fields []Field, prefix string, out map[string]bool) {
	for _, f := range fields {
		out[prefix+f.Key] = true
		if f.Kind == Object || f.Kind == ObjectList {
			tablePaths(f.Fields, prefix+f.Key+".", out)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The tables hold every field of the JSON Schema generated from the
// validator's own field table (generated/schema), and no other: a field
// added to the validator fails here until the provider has its attribute.
func TestTheTablesHaveEveryFieldOfTheGeneratedSchema(t *testing.T) {
	raw, err := os.ReadFile("../../../generated/schema/app-document.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	for kind, fields := range map[string][]Field{"wasm-service": WasmServiceFields, "vm": VMFields} {
		want := map[string]bool{}
		schemaPaths(defs[kind], defs, "", want)
		delete(want, "kind")
		got := map[string]bool{}
		tablePaths(fields, "", got)
		var missing, extra []string
		for _, p := range sortedKeys(want) {
			if !got[p] {
				missing = append(missing, p)
			}
		}
		for _, p := range sortedKeys(got) {
			if !want[p] {
				extra = append(extra, p)
			}
		}
		if len(missing) > 0 || len(extra) > 0 || len(want) < 10 {
			t.Errorf("%s: fields the provider lacks %v; fields the schema does not have %v (%d in the schema)", kind, missing, extra, len(want))
		}
	}
}
