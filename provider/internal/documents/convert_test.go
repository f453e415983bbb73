package documents

import (
	"encoding/json"
	"math/big"
	"reflect"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// objectType is the tftypes object of fields, as the resource schema builds it.
func objectType(fields []Field) tftypes.Object {
	attrs := map[string]tftypes.Type{}
	for _, f := range fields {
		attrs[f.Attr] = fieldType(f)
	}
	return tftypes.Object{AttributeTypes: attrs}
}

func fieldType(f Field) tftypes.Type {
	switch f.Kind {
	case String:
		return tftypes.String
	case Int:
		return tftypes.Number
	case Bool:
		return tftypes.Bool
	case StringList:
		return tftypes.List{ElementType: tftypes.String}
	case StringMap:
		return tftypes.Map{ElementType: tftypes.String}
	case IntMap:
		return tftypes.Map{ElementType: tftypes.Number}
	case Object:
		return objectType(f.Fields)
	case ObjectList:
		return tftypes.List{ElementType: objectType(f.Fields)}
	}
	panic(f.Attr)
}

// stored parses a document as the controller returns it.
func stored(t *testing.T, text string) map[string]any {
	t.Helper()
	doc, err := ParseStored([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func encoded(t *testing.T, kind string, fields []Field, v tftypes.Value) string {
	t.Helper()
	doc, err := Encode(kind, fields, v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The demo's PDF service, as an operator writes it: every kind of field.
const pdfDocument = `{"kind":"wasm-service","component":{"sha256":"` + sha + `"},"count":6,"port":"dynamic",
 "service":{"checkPath":"/health"},"instances":4,
 "grants":{"buckets":["cloud-pdfs"],"requestLog":true,"outbound":["http://email.service.consul"]},
 "limits":{"maxRequestBody":"8MiB","requestTimeout":"60s","instanceMemory":"192MiB"},
 "env":{"PDF_BUCKET":"cloud-pdfs","A":"b"},"resources":{"cpu":400,"memoryMB":896},
 "ingress":true,"spread":true,
 "constraints":["kvm",{"attribute":"node.class","operator":"!=","value":"small"}]}`

const sha = "abababababababababababababababababababababababababababababababab"

func TestStoredWasmServiceReadsIntoTypedAttributesAndWritesBackTheSameDocument(t *testing.T) {
	typ := objectType(WasmServiceFields)
	values, problems := Decode(WasmServiceFields, stored(t, pdfDocument), typ)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	obj := tftypes.NewValue(typ, values)

	var count big.Float
	if err := values["allocation_count"].As(&count); err != nil || count.String() != "6" {
		t.Fatalf("count = %v (%v)", count.String(), err)
	}
	if !values["port"].IsNull() {
		t.Fatal(`port "dynamic" should show as no port attribute`)
	}
	var ingress map[string]tftypes.Value
	if err := values["ingress"].As(&ingress); err != nil || !ingress["host"].IsNull() {
		t.Fatalf("ingress true should be {} with no host, got %v (%v)", values["ingress"], err)
	}
	var resources map[string]tftypes.Value
	_ = values["resources"].As(&resources)
	var memory big.Float
	_ = resources["memory_mb"].As(&memory)
	if memory.String() != "896" {
		t.Fatalf("resources.memory_mb = %s", memory.String())
	}

	// Written back: the same document but port "dynamic", which is the default and left out.
	want := `{"kind":"wasm-service","component":{"sha256":"` + sha + `"},"count":6,"service":{"checkPath":"/health"},"instances":4,` +
		`"grants":{"buckets":["cloud-pdfs"],"requestLog":true,"outbound":["http://email.service.consul"]},` +
		`"limits":{"requestTimeout":"60s","maxRequestBody":"8MiB","instanceMemory":"192MiB"},` +
		`"env":{"A":"b","PDF_BUCKET":"cloud-pdfs"},"resources":{"cpu":400,"memoryMB":896},"ingress":true,"spread":true,` +
		`"constraints":["kvm",{"attribute":"node.class","operator":"!=","value":"small"}]}`
	if got := encoded(t, "wasm-service", WasmServiceFields, obj); got != want {
		t.Fatalf("written:\n got %s\nwant %s", got, want)
	}
}

func TestOptionalFormsRoundTrip(t *testing.T) {
	typ := objectType(WasmServiceFields)
	cases := map[string]string{
		"a static port":           `{"kind":"wasm-service","port":{"static":8080}}`,
		"an ingress host":         `{"kind":"wasm-service","ingress":{"host":"docs"}}`,
		"empty lists and maps":    `{"kind":"wasm-service","grants":{"buckets":[],"mail":[]},"env":{}}`,
		"a constraint's operator": `{"kind":"wasm-service","constraints":[{"attribute":"attr.x","operator":"is_set"}]}`,
	}
	for what, text := range cases {
		values, problems := Decode(WasmServiceFields, stored(t, text), typ)
		if len(problems) > 0 {
			t.Fatalf("%s: %v", what, problems)
		}
		got := encoded(t, "wasm-service", WasmServiceFields, tftypes.NewValue(typ, values))
		var a, b any
		_ = json.Unmarshal([]byte(got), &a)
		_ = json.Unmarshal([]byte(text), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: wrote %s, read %s", what, got, text)
		}
	}
}

func TestFalseIngressAndMailAreLikeAbsent(t *testing.T) {
	typ := objectType(WasmServiceFields)
	values, _ := Decode(WasmServiceFields, stored(t, `{"kind":"wasm-service","ingress":false,"grants":{"mail":false}}`), typ)
	if !values["ingress"].IsNull() {
		t.Error("ingress false should show as no ingress")
	}
	if got := encoded(t, "wasm-service", WasmServiceFields, tftypes.NewValue(typ, values)); got != `{"kind":"wasm-service","grants":{}}` {
		t.Errorf("written: %s", got)
	}
}

func TestVMDocumentRoundTrip(t *testing.T) {
	typ := objectType(VMFields)
	text := `{"kind":"vm","image":{"sha256":"` + sha + `"},"vcpus":1,"memory":"128MiB","disk":{"size":"2GiB"},
	  "cloudInit":{"hostname":"hello-vm","sshAuthorizedKeys":["ssh-ed25519 AAAA k"]},"ports":{"http":8080,"ssh":22},
	  "service":{"port":"http","checkPath":"/"},"state":"stopped","count":2,"datacenters":["dc1"],
	  "ingress":true,"egress":["email"]}`
	values, problems := Decode(VMFields, stored(t, text), typ)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	got := encoded(t, "vm", VMFields, tftypes.NewValue(typ, values))
	var a, b any
	_ = json.Unmarshal([]byte(got), &a)
	_ = json.Unmarshal([]byte(text), &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("wrote %s", got)
	}
}

func TestAHandEditTheProviderCannotShowIsAProblemAndShowsAsUnset(t *testing.T) {
	typ := objectType(WasmServiceFields)
	values, problems := Decode(WasmServiceFields, stored(t, `{"kind":"wasm-service","count":"six","colour":"blue","resources":{"cpu":1.5,"memoryMB":64}}`), typ)
	want := []string{
		"colour: a field the provider does not know; it is left out of the state",
		`count: the stored value "six" is not a whole number; it shows as unset`,
		`resources.cpu: the stored value 1.5 is not a whole number; it shows as unset`,
	}
	if !reflect.DeepEqual(problems, want) {
		t.Fatalf("problems:\n%q\nwant\n%q", problems, want)
	}
	if !values["allocation_count"].IsNull() || !values["resources"].IsNull() {
		t.Fatal("the unreadable fields should be null")
	}
}

func TestUnknownValuesAreNotEncoded(t *testing.T) {
	typ := objectType(WasmServiceFields)
	values, _ := Decode(WasmServiceFields, stored(t, `{"kind":"wasm-service"}`), typ)
	values["component"] = tftypes.NewValue(typ.AttributeTypes["component"], map[string]tftypes.Value{
		"sha256": tftypes.NewValue(tftypes.String, tftypes.UnknownValue),
		"source": tftypes.NewValue(tftypes.String, nil),
	})
	if _, err := Encode("wasm-service", WasmServiceFields, tftypes.NewValue(typ, values)); err != ErrUnknown {
		t.Fatalf("err = %v, want ErrUnknown", err)
	}
}

func TestValidatorFieldsNameTheAttribute(t *testing.T) {
	cases := map[string]path.Path{
		"resources.memoryMB":           path.Root("resources").AtName("memory_mb"),
		"grants.buckets[2]":            path.Root("grants").AtName("buckets").AtListIndex(2),
		"env.PDF_BUCKET":               path.Root("env").AtMapKey("PDF_BUCKET"),
		"constraints[1].value":         path.Root("constraints").AtListIndex(1).AtName("value"),
		"constraints[0]":               path.Root("constraints").AtListIndex(0),
		"component.sha256":             path.Root("component").AtName("sha256"),
		"service.checkIntervalSeconds": path.Root("service").AtName("check_interval_seconds"),
		"port.static":                  path.Root("port").AtName("static"),
		"ingress.host":                 path.Root("ingress").AtName("host"),
		"name":                         path.Root("name"),
		"count":                        path.Root("allocation_count"),
		"resources.gpu":                path.Root("resources"),
		"$":                            path.Empty(),
		"kind":                         path.Empty(),
	}
	for field, want := range cases {
		if got := AttributePath(WasmServiceFields, field); !got.Equal(want) {
			t.Errorf("%s: got %s, want %s", field, got, want)
		}
	}
	if got := AttributePath(VMFields, "ports.http"); !got.Equal(path.Root("ports").AtMapKey("http")) {
		t.Errorf("ports.http: got %s", got)
	}
	if got := AttributePath(VMFields, "cloudInit.sshAuthorizedKeys[0]"); !got.Equal(path.Root("cloud_init").AtName("ssh_authorized_keys").AtListIndex(0)) {
		t.Errorf("cloudInit.sshAuthorizedKeys[0]: got %s", got)
	}
}

func TestParseStoredTakesTheAPIsStringFormOfANonObject(t *testing.T) {
	if _, err := ParseStored([]byte(`"{nope"`)); err == nil {
		t.Fatal("a stored text that is not JSON should be an error")
	}
	doc, err := ParseStored([]byte(`"{\"kind\":\"vm\"}"`))
	if err != nil || doc["kind"] != "vm" {
		t.Fatalf("doc = %v, err = %v", doc, err)
	}
}

func TestUnknownAttributesBesideTheFieldsDoNotStopEncoding(t *testing.T) {
	fields := []Field{{Attr: "env", Key: "env", Kind: StringMap}}
	typ := tftypes.Object{AttributeTypes: map[string]tftypes.Type{"env": tftypes.Map{ElementType: tftypes.String}, "spec_index": tftypes.Number}}
	obj := tftypes.NewValue(typ, map[string]tftypes.Value{
		"env":        tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, map[string]tftypes.Value{"A": tftypes.NewValue(tftypes.String, "1")}),
		"spec_index": tftypes.NewValue(tftypes.Number, tftypes.UnknownValue),
	})
	if got := encoded(t, "wasm-service", fields, obj); got != `{"kind":"wasm-service","env":{"A":"1"}}` {
		t.Fatalf("written: %s", got)
	}
}
