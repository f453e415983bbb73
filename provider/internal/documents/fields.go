// Package documents maps Lean Cloud app documents (the JSON stored in Consul
// KV under lean-cloud/apps/<name>) to OpenTofu values and back, field by
// field, from one table per kind. Checking a document is not done here: the
// controller runs the one validator (jobs/app-spec.ts) and names the refused
// field as a JSON path, which AttributePath turns into the attribute's path.
package documents

// Kind is the shape of one field.
type Kind int

const (
	String Kind = iota
	Int
	Bool
	StringList
	StringMap
	IntMap
	// Object has nested Fields.
	Object
	// ObjectList is a list of objects with nested Fields.
	ObjectList
)

// Field is one attribute and the document key it stands for.
type Field struct {
	// Attr is the attribute's name (snake_case).
	Attr string
	// Key is the document's key (camelCase).
	Key  string
	Kind Kind
	// Fields are an Object's or ObjectList's members.
	Fields []Field
	// Description is the attribute's documentation.
	Description string
	// Stored turns a value as stored into the attribute's document form
	// before it is read (e.g. port "dynamic" is no port attribute); nil: as is.
	Stored func(any) any
	// Written turns the attribute's document form into what is stored
	// (e.g. ingress {} is `true`); nil: as is.
	Written func(any) any
}

// Find returns the field whose document key is key.
func Find(fields []Field, key string) (Field, bool) {
	for _, f := range fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// ingressField: `true` (at the service's name), `{ "host": … }`, or absent/false.
// As an attribute: an object whose presence turns the ingress on.
func ingressField(service string) Field {
	return Field{
		Attr: "ingress", Key: "ingress", Kind: Object,
		Description: "Behind the cloud's ingress, at http://<host>.lean.localhost:<ingress port>/: `{}` for the host " + service + ", or `{ host = \"label\" }`. Absent: not behind the ingress.",
		Fields:      []Field{{Attr: "host", Key: "host", Kind: String, Description: "The host label (default: " + service + ")."}},
		Stored: func(v any) any {
			switch v {
			case true:
				return map[string]any{}
			case false:
				return nil
			}
			return v
		},
		Written: func(v any) any {
			if m, ok := v.(Ordered); ok && len(m) == 0 {
				return true
			}
			return v
		},
	}
}

var placementFields = []Field{
	{Attr: "spread", Key: "spread", Kind: Bool, Description: "Spread the allocations evenly over the nodes."},
	{
		Attr: "constraints", Key: "constraints", Kind: ObjectList,
		Description: "Nodes the allocations may go to (at most 8). An attribute without a dot is a shorthand (`kvm`: the virt driver found KVM) and takes no operator or value.",
		Fields: []Field{
			{Attr: "attribute", Key: "attribute", Kind: String, Description: "attr.<name>, meta.<name>, node.class, node.datacenter, node.unique.name, or a shorthand."},
			{Attr: "operator", Key: "operator", Kind: String, Description: "=, !=, regexp, version, is_set or is_not_set (default =)."},
			{Attr: "value", Key: "value", Kind: String, Description: "What the attribute is compared with (none for is_set and is_not_set)."},
		},
		Stored:  storedConstraints,
		Written: writtenConstraints,
	},
}

// storedConstraints: a shorthand is stored as a plain string; as an attribute it is { attribute = "kvm" }.
func storedConstraints(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(list))
	for j, c := range list {
		if s, ok := c.(string); ok {
			out[j] = map[string]any{"attribute": s}
		} else {
			out[j] = c
		}
	}
	return out
}

// writtenConstraints: { attribute = "kvm" } alone, without a dot, is written as the shorthand "kvm".
func writtenConstraints(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	for j, c := range list {
		if m, ok := c.(Ordered); ok && len(m) == 1 && m[0].Key == "attribute" {
			if s, ok := m[0].Value.(string); ok && !containsDot(s) {
				list[j] = s
			}
		}
	}
	return list
}

func containsDot(s string) bool {
	for _, r := range s {
		if r == '.' {
			return true
		}
	}
	return false
}

// WasmServiceFields are the fields of a `wasm-service` document but its kind.
var WasmServiceFields = append([]Field{
	{
		Attr: "component", Key: "component", Kind: Object,
		Description: "The wasi:http component, by digest (e.g. lean_component's sha256).",
		Fields: []Field{
			{Attr: "sha256", Key: "sha256", Kind: String, Description: "The .wasm file's sha256 (64 lower-case hex characters); required."},
			{Attr: "source", Key: "source", Kind: String, Description: "Where the driver fetches it, if not s3://artifacts/components/<sha256>.wasm (each node's plugin config decides what it allows)."},
		},
	},
	{Attr: "allocation_count", Key: "count", Kind: Int, Description: "The document's `count` (`count` is OpenTofu's own): allocations, 0 to 1000 (default 1)."},
	{
		Attr: "port", Key: "port", Kind: Object,
		Description: "A static host port `{ static = 8080 }`; absent: a dynamic port (\"dynamic\").",
		Fields:      []Field{{Attr: "static", Key: "static", Kind: Int, Description: "1 to 65535; required."}},
		Stored: func(v any) any {
			if v == "dynamic" {
				return nil
			}
			return v
		},
	},
	{
		Attr: "service", Key: "service", Kind: Object,
		Description: "Its Consul service.",
		Fields: []Field{
			{Attr: "name", Key: "name", Kind: String, Description: "The service name, a DNS label (default: the app's name)."},
			{Attr: "check_path", Key: "checkPath", Kind: String, Description: "The HTTP health check's path (default /health)."},
			{Attr: "check_interval_seconds", Key: "checkIntervalSeconds", Kind: Int, Description: "Between checks, 1 to 3600."},
		},
	},
	{Attr: "instances", Key: "instances", Kind: Int, Description: "Warm instances per allocation, 1 to 1024."},
	{
		Attr: "grants", Key: "grants", Kind: Object,
		Description: "What the component may reach through the capability API; nothing else.",
		Fields: []Field{
			{Attr: "buckets", Key: "buckets", Kind: StringList, Description: "S3 buckets it may read and write."},
			{Attr: "request_log", Key: "requestLog", Kind: Bool, Description: "It may write request logs."},
			{Attr: "outbound", Key: "outbound", Kind: StringList, Description: "Origins its wasi:http calls may reach (http://<name>.service.consul, https://host)."},
			{Attr: "mail", Key: "mail", Kind: StringList, Description: "Recipients or domains it may mail."},
		},
		Stored: func(v any) any {
			if m, ok := v.(map[string]any); ok && m["mail"] == false {
				delete(m, "mail")
			}
			return v
		},
	},
	{
		Attr: "limits", Key: "limits", Kind: Object,
		Description: "Per request and per instance limits.",
		Fields: []Field{
			{Attr: "request_timeout", Key: "requestTimeout", Kind: String, Description: "A duration, e.g. 30s."},
			{Attr: "max_request_body", Key: "maxRequestBody", Kind: String, Description: "A size, e.g. 8MiB."},
			{Attr: "instance_memory", Key: "instanceMemory", Kind: String, Description: "A size, e.g. 192MiB."},
		},
	},
	{Attr: "env", Key: "env", Kind: StringMap, Description: "Environment variables of the component (at most 128)."},
	{
		Attr: "resources", Key: "resources", Kind: Object,
		Description: "What Nomad reserves per allocation.",
		Fields: []Field{
			{Attr: "cpu", Key: "cpu", Kind: Int, Description: "MHz, 10 to 256000; required."},
			{Attr: "memory_mb", Key: "memoryMB", Kind: Int, Description: "MiB, 16 to 1048576; required."},
		},
	},
	ingressField("the service's name"),
}, placementFields...)

// VMFields are the fields of a `vm` document but its kind.
var VMFields = append([]Field{
	{
		Attr: "image", Key: "image", Kind: Object,
		Description: "The image, by its manifest's digest (e.g. lean_image's sha256).",
		Fields: []Field{
			{Attr: "sha256", Key: "sha256", Kind: String, Description: "The manifest's sha256; required."},
			{Attr: "source", Key: "source", Kind: String, Description: "Where the driver fetches it, if not the artifacts bucket."},
		},
	},
	{Attr: "vcpus", Key: "vcpus", Kind: Int, Description: "Virtual CPUs, 1 to 64 (default 1)."},
	{Attr: "cpu", Key: "cpu", Kind: Int, Description: "MHz reserved (default: per vCPU)."},
	{Attr: "memory", Key: "memory", Kind: String, Description: "A size, e.g. 128MiB (default 256MiB)."},
	{
		Attr: "disk", Key: "disk", Kind: Object,
		Description: "The VM's disk.",
		Fields:      []Field{{Attr: "size", Key: "size", Kind: String, Description: "A size, e.g. 2GiB; required."}},
	},
	{
		Attr: "cloud_init", Key: "cloudInit", Kind: Object,
		Description: "The NoCloud seed the VM boots with.",
		Fields: []Field{
			{Attr: "hostname", Key: "hostname", Kind: String, Description: "The guest's hostname."},
			{Attr: "user_data", Key: "userData", Kind: String, Description: "cloud-config user data."},
			{Attr: "ssh_authorized_keys", Key: "sshAuthorizedKeys", Kind: StringList, Description: "SSH public keys."},
			{Attr: "commands", Key: "commands", Kind: StringList, Description: "Commands run at first boot."},
		},
	},
	{Attr: "ports", Key: "ports", Kind: IntMap, Description: "Label → guest port, each forwarded from a host port."},
	{
		Attr: "service", Key: "service", Kind: Object,
		Description: "Its Consul service.",
		Fields: []Field{
			{Attr: "name", Key: "name", Kind: String, Description: "The service name (default: the app's name)."},
			{Attr: "port", Key: "port", Kind: String, Description: "A label from ports; required."},
			{Attr: "check_path", Key: "checkPath", Kind: String, Description: "An HTTP check's path (absent: a TCP check)."},
			{Attr: "check_interval_seconds", Key: "checkIntervalSeconds", Kind: Int, Description: "Between checks, 1 to 3600."},
		},
	},
	{Attr: "state", Key: "state", Kind: String, Description: "running (default) or stopped."},
	{Attr: "allocation_count", Key: "count", Kind: Int, Description: "The document's `count` (`count` is OpenTofu's own): VMs, 0 to 100 (default 1)."},
	{Attr: "datacenters", Key: "datacenters", Kind: StringList, Description: "Nomad datacenters it may run in."},
	ingressField("the service's name, else the app's"),
	{Attr: "egress", Key: "egress", Kind: StringList, Description: "Consul services the guest may reach."},
}, placementFields...)
