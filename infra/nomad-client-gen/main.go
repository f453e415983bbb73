// nomad-client-gen writes generated/nomad/: TypeScript interfaces for the
// JSON of the Nomad HTTP API, and a typed client over a small transport.
//
// Why: the published OpenAPI spec stops at Nomad 1.4 and lacks newer job
// fields (NodePool, added in 1.6). The agent speaks encoding/json of structs the
// api package mirrors, so walking the pinned api package's types with reflect
// gives the wire shape of the version we run. The pin is in go.mod, equal to
// infra/binaries/nomad's.
//
// Usage: go run . <output dir>   (generate.sh runs it, then prettier)
package main

import (
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

const apiModule = "github.com/hashicorp/nomad/api"

// Every named struct reachable from these (and from the endpoints) gets an interface.
var roots = []reflect.Type{
	reflect.TypeFor[api.Job](), reflect.TypeFor[api.JobListStub](), reflect.TypeFor[api.JobSummary](),
	reflect.TypeFor[api.TaskGroupSummary](), reflect.TypeFor[api.JobRegisterRequest](),
	reflect.TypeFor[api.JobRegisterResponse](), reflect.TypeFor[api.JobValidateRequest](),
	reflect.TypeFor[api.JobValidateResponse](), reflect.TypeFor[api.JobDeregisterResponse](),
	reflect.TypeFor[api.JobVersionsResponse](), reflect.TypeFor[api.AllocationListStub](),
	reflect.TypeFor[api.AgentSelf](), // a struct at this pin
}

// One method of the client. Path segments ":name" become string arguments;
// query parameters become members of the trailing options object.
type endpoint struct {
	name, method, path, doc string
	query                   []string     // "name: tsType"
	body, result            reflect.Type // nil: none
	list                    bool         // the answer is an array of result
	notFound                bool         // 404 means absent: resolves to undefined
	blocking                bool         // resolves to {value, index} (X-Nomad-Index)
}

var endpoints = []endpoint{
	{name: "getJob", method: "GET", path: "/v1/job/:id", doc: "The job, or undefined when there is none.",
		result: reflect.TypeFor[api.Job](), notFound: true},
	{name: "listJobs", method: "GET", path: "/v1/jobs", doc: "Job stubs; with `index`, waits until the list changes after it (or `wait` passes).",
		query:  []string{"index: number", "wait: string", "meta: boolean", "prefix: string"},
		result: reflect.TypeFor[api.JobListStub](), list: true, blocking: true},
	{name: "getJobSummary", method: "GET", path: "/v1/job/:id/summary", doc: "Allocation counts per task group, or undefined when there is no such job.",
		result: reflect.TypeFor[api.JobSummary](), notFound: true},
	{name: "registerJob", method: "PUT", path: "/v1/jobs", doc: "Registers (creates or updates) a job.",
		body: reflect.TypeFor[api.JobRegisterRequest](), result: reflect.TypeFor[api.JobRegisterResponse]()},
	{name: "deregisterJob", method: "DELETE", path: "/v1/job/:id", doc: "Stops a job; `purge` also removes it.",
		query: []string{"purge: boolean"}, result: reflect.TypeFor[api.JobDeregisterResponse]()},
	{name: "validateJob", method: "PUT", path: "/v1/validate/job", doc: "Validates a job without registering it.",
		body: reflect.TypeFor[api.JobValidateRequest](), result: reflect.TypeFor[api.JobValidateResponse]()},
	{name: "listJobAllocations", method: "GET", path: "/v1/job/:id/allocations", doc: "The job's allocations.",
		result: reflect.TypeFor[api.AllocationListStub](), list: true},
	{name: "listAllocations", method: "GET", path: "/v1/allocations", doc: "Allocation stubs of every job; with `index`, waits until one changes after it (or `wait` passes).",
		query:  []string{"index: number", "wait: string"},
		result: reflect.TypeFor[api.AllocationListStub](), list: true, blocking: true},
	{name: "getAllocation", method: "GET", path: "/v1/allocation/:id", doc: "One allocation in full (its resources, ports and task states), or undefined when there is none.",
		result: reflect.TypeFor[api.Allocation](), notFound: true},
	{name: "listNodes", method: "GET", path: "/v1/nodes", doc: "Client node stubs, with their drivers' fingerprinted attributes.",
		result: reflect.TypeFor[api.NodeListStub](), list: true},
	{name: "getNode", method: "GET", path: "/v1/node/:id", doc: "One client node in full (attributes, drivers, address), or undefined when there is none.",
		result: reflect.TypeFor[api.Node](), notFound: true},
	{name: "agentSelf", method: "GET", path: "/v1/agent/self", doc: "The local agent's configuration and member record.",
		result: reflect.TypeFor[api.AgentSelf]()},
	{name: "leader", method: "GET", path: "/v1/status/leader", doc: "The RPC address of the cluster leader.",
		result: reflect.TypeFor[string]()},
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	identifier   = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)
)

// implements reports whether t or *t has the method set of interface I.
func implements[I any](t reflect.Type) bool {
	i := reflect.TypeFor[I]()
	return t.Kind() != reflect.Interface && (t.Implements(i) || reflect.PointerTo(t).Implements(i))
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// Bool, the integer kinds and the float kinds are contiguous in reflect.Kind.
func scalar(k reflect.Kind) bool {
	return k >= reflect.Bool && k <= reflect.Float64 || k == reflect.String
}

// jsonField is one property of a struct's JSON object.
type jsonField struct {
	name     string
	typ      reflect.Type
	index    []int // path through embedded structs; its length is the depth
	tagged   bool
	asString bool // `json:",string"`: a scalar that travels quoted
}

// collect lists t's candidate properties, descending into embedded structs
// that have no tag name, as encoding/json does.
func collect(t reflect.Type, index []int, path map[reflect.Type]bool, out *[]jsonField) {
	if path[t] { // an embedding cycle adds nothing new
		return
	}
	path[t] = true
	defer delete(path, t)
	for i := range t.NumField() {
		f := t.Field(i)
		ft := f.Type
		if ft.Name() == "" {
			ft = deref(ft)
		}
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !(f.Anonymous && ft.Kind() == reflect.Struct) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		at := append(append([]int(nil), index...), i)
		if name == "" && f.Anonymous && ft.Kind() == reflect.Struct {
			collect(ft, at, path, out)
			continue
		}
		quoted := scalar(ft.Kind()) && strings.Contains(","+opts+",", ",string,")
		*out = append(*out, jsonField{name: cmp.Or(name, f.Name), typ: f.Type, index: at, tagged: name != "", asString: quoted})
	}
}

// fields applies encoding/json's rule to the candidates: per name the
// shallowest wins, a single tagged one breaks a tie, an unbroken tie drops
// the name. The result is in declaration order.
func fields(t reflect.Type) []jsonField {
	var all []jsonField
	collect(t, nil, map[reflect.Type]bool{}, &all)
	byName := map[string][]jsonField{}
	for _, f := range all {
		g := byName[f.name]
		if len(g) > 0 && len(f.index) > len(g[0].index) {
			continue
		}
		if len(g) > 0 && len(f.index) < len(g[0].index) {
			g = nil
		}
		byName[f.name] = append(g, f)
	}
	var kept []jsonField
	for _, g := range byName {
		tagged := slices.DeleteFunc(slices.Clone(g), func(f jsonField) bool { return !f.tagged })
		if len(g) == 1 {
			kept = append(kept, g[0])
		} else if len(tagged) == 1 {
			kept = append(kept, tagged[0])
		}
	}
	slices.SortFunc(kept, func(a, b jsonField) int { return slices.Compare(a.index, b.index) })
	return kept
}

// gen names every named struct it meets and queues it for output.
type gen struct {
	names   map[reflect.Type]string
	owners  map[string]reflect.Type
	pending []reflect.Type
}

// ts is the TypeScript type of a Go value's JSON. A pointer is typed as
// what it points to; the property holding one adds `| null`.
func (g *gen) ts(t reflect.Type) string {
	switch k := t.Kind(); {
	case t == timeType:
		return "string"
	case t == durationType:
		return "number"
	case implements[json.Marshaler](t):
		fmt.Fprintf(os.Stderr, "nomad-client-gen: %s encodes itself; typed as unknown\n", t)
		return "unknown"
	case implements[encoding.TextMarshaler](t) || k == reflect.String:
		return "string"
	case k >= reflect.Int && k <= reflect.Float64:
		return "number"
	case k == reflect.Bool:
		return "boolean"
	case k == reflect.Interface:
		return "unknown"
	case k == reflect.Pointer:
		return g.ts(t.Elem())
	case k == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "string" // []byte travels as base64
	case k == reflect.Slice || k == reflect.Array:
		if elem := g.ts(t.Elem()); identifier.MatchString(elem) || strings.HasSuffix(elem, "[]") {
			return elem + "[]"
		} else {
			return "Array<" + elem + ">"
		}
	case k == reflect.Map:
		return "Record<string, " + g.ts(t.Elem()) + ">" // JSON keys are strings whatever the Go key
	case k == reflect.Struct && t.Name() == "":
		return g.object(t)
	case k == reflect.Struct:
		return g.named(t)
	}
	panic(fmt.Sprintf("nomad-client-gen: %s (%s) has no JSON form", t, t.Kind()))
}

func (g *gen) named(t reflect.Type) string {
	if name, ok := g.names[t]; ok {
		return name
	}
	name := t.Name()
	if pkg := filepath.Base(t.PkgPath()); t.PkgPath() != apiModule {
		name = strings.ToUpper(pkg[:1]) + pkg[1:] + name
	}
	if other, clash := g.owners[name]; clash || !identifier.MatchString(name) {
		panic(fmt.Sprintf("nomad-client-gen: no TypeScript name for %s (%q; clash with %v)", t, name, other))
	}
	g.names[t], g.owners[name] = name, t
	g.pending = append(g.pending, t)
	return name
}

// object is a struct's properties as a TypeScript object type, one a line.
func (g *gen) object(t reflect.Type) string {
	var b strings.Builder
	b.WriteString("{\n")
	for _, f := range fields(t) {
		typ := g.ts(f.typ)
		if f.asString {
			typ = "string"
		}
		switch f.typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			typ += " | null"
		}
		key := f.name
		if !identifier.MatchString(key) {
			key = fmt.Sprintf("%q", key)
		}
		switch deref(f.typ) {
		case durationType:
			b.WriteString("/** Nanoseconds (a Go time.Duration). */\n")
		case timeType:
			b.WriteString("/** An RFC 3339 time. */\n")
		}
		fmt.Fprintf(&b, "%s?: %s\n", key, typ)
	}
	return b.String() + "}"
}

func header(version string) string {
	return "// Code generated by infra/nomad-client-gen; DO NOT EDIT.\n" +
		"// Regenerate with: npm run gen:nomad-client\n" +
		"// From " + apiModule + " " + version + " (the pin of infra/binaries/nomad).\n"
}

const typesRules = `//
// Go to TypeScript, as encoding/json (what the agent's HTTP API speaks) does it:
// - Property names are the json tag's name, else the Go field name; fields
//   tagged "-" are left out; embedded structs are flattened.
// - Every property is optional (?:): the agent fills defaults server-side on
//   writes, and omitempty fields are absent from answers. Pointer, slice, map
//   and interface fields may also be null (a nil Go value). Pointers inside
//   slices and maps are typed as what they point to.
// - time.Duration is a number of nanoseconds, time.Time an RFC 3339 string,
//   []byte a base64 string, interface{} unknown; maps are Records keyed by
//   string; 64-bit integers are numbers (exact up to 2^53).
// - A struct with no fields at this pin is Record<string, unknown>.
`

func (g *gen) typesFile(version string) string {
	all := slices.Clone(roots)
	for _, e := range endpoints {
		all = append(all, e.body, e.result)
	}
	for _, t := range all {
		if t != nil && t.Kind() == reflect.Struct {
			g.named(t)
		}
	}
	bodies := map[string]string{}
	for len(g.pending) > 0 { // object() may queue more as it goes
		t := g.pending[0]
		g.pending = g.pending[1:]
		bodies[g.names[t]] = g.object(t)
	}
	out := header(version) + typesRules
	for _, name := range slices.Sorted(maps.Keys(bodies)) {
		if bodies[name] == "{\n}" {
			out += "\nexport type " + name + " = Record<string, unknown>\n"
		} else {
			out += "\nexport interface " + name + " " + bodies[name] + "\n"
		}
	}
	return out
}

const clientPrelude = `
export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE'
export type Query = Record<string, string | number | boolean | undefined>

/**
 * The HTTP under the client: address, auth token, timeouts and errors are the
 * caller's. Resolves for a 2xx answer with its JSON body (undefined when empty)
 * and its X-Nomad-Index (0 when absent). A 404 to a GET resolves too, with
 * status 404, so reads can report "absent"; any other non-2xx answer rejects.
 * Undefined query members are left out.
 */
export interface NomadTransport {
  request(method: HttpMethod, path: string, query: Query, body: unknown, signal?: AbortSignal): Promise<NomadResponse>
}

export interface NomadResponse { readonly status: number; readonly body: unknown; readonly index: number }

/** A blocking query's answer: pass index back to wait for the next change. */
export interface Blocking<T> { readonly value: T; readonly index: number }

/** Options bags accept explicit undefined members (exactOptionalPropertyTypes). */
export interface CallOptions { readonly signal?: AbortSignal | undefined }

export class NomadClient {
  constructor(private readonly transport: NomadTransport) {}
`

func (g *gen) clientFile(version string) string {
	var methods strings.Builder
	imports := map[string]bool{}
	for _, e := range endpoints {
		var args, members, query []string
		segments := strings.Split(e.path, "/")
		path := "'" + e.path + "'"
		for i, s := range segments {
			if name, ok := strings.CutPrefix(s, ":"); ok {
				args = append(args, name+": string")
				segments[i] = "${encodeURIComponent(" + name + ")}"
				path = "`" + strings.Join(segments, "/") + "`"
			}
		}
		body, opts := "undefined", "CallOptions"
		if e.body != nil {
			args, body = append(args, "request: "+g.ts(e.body)), "request"
			imports[g.ts(e.body)] = true
		}
		for _, q := range e.query {
			name, typ, _ := strings.Cut(q, ": ")
			members, query = append(members, name+"?: "+typ+" | undefined"), append(query, name+": options."+name)
		}
		if len(members) > 0 {
			opts += " & { " + strings.Join(members, "; ") + " }"
		}
		args = append(args, "options: "+opts+" = {}")
		result := g.ts(e.result)
		if e.result.Kind() == reflect.Struct {
			imports[result] = true
		}
		if e.list {
			result += "[]"
		}
		value := "res.body as " + result
		if e.blocking {
			result, value = "Blocking<"+result+">", "{ value: "+value+", index: res.index }"
		}
		if e.notFound {
			result += " | undefined"
		}
		fmt.Fprintf(&methods, "\n/** %s %s: %s */\nasync %s(%s): Promise<%s> {\n", e.method, e.path, e.doc, e.name, strings.Join(args, ", "), result)
		fmt.Fprintf(&methods, "const res = await this.transport.request('%s', %s, { %s }, %s, options.signal)\n",
			e.method, path, strings.Join(query, ", "), body)
		if e.notFound {
			methods.WriteString("if (res.status === 404) return undefined\n")
		}
		fmt.Fprintf(&methods, "return %s\n}\n", value)
	}
	names := slices.Sorted(maps.Keys(imports))
	return header(version) + "import type { " + strings.Join(names, ", ") + " } from './types.ts'\n" +
		clientPrelude + methods.String() + "}\n"
}

const readme = `# generated/nomad

Generated, do not edit; regenerate with ` + "`npm run gen:nomad-client`" + `.

- types.ts: interfaces for the JSON of the Nomad HTTP API endpoints we use.
- client.ts: NomadClient, typed methods over a NomadTransport that hand-written code
  supplies (fetch, auth token, errors: see controller/nomad-api.ts).

Why not Nomad's published OpenAPI spec: it describes Nomad 1.4 and lacks newer job fields
(NodePool, added in 1.6). These types come from the Go structs of the pinned Nomad api package
(%s %s, the pin of infra/binaries/nomad), read with reflection by
infra/nomad-client-gen; the mapping rules head types.ts.
`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: nomad-client-gen <output dir>")
		os.Exit(2)
	}
	version := "(unknown version)"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == apiModule {
				version = dep.Version
			}
		}
	}
	g := &gen{names: map[reflect.Type]string{}, owners: map[string]reflect.Type{}}
	types := g.typesFile(version) // first: it names every type client.ts uses
	files := map[string]string{"types.ts": types, "client.ts": g.clientFile(version), "README.md": fmt.Sprintf(readme, apiModule, version)}
	dir := os.Args[1]
	err := os.MkdirAll(dir, 0o755)
	for name, text := range files {
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nomad-client-gen:", err)
		os.Exit(1)
	}
}
