// Nomad's hclspec (hashicorp.nomad.plugins.shared.hclspec.Spec) as plain
// objects, with field names as in our proto: how a driver tells Nomad the
// shape of its plugin and task config blocks.
export type HclSpec =
  | { object: { attributes: Record<string, HclSpec> } }
  | { Attr: { name: string; type: string; required: boolean } }
  | { default: { primary: HclSpec; default: HclSpec } }
  | { literal: { value: string } }
  | { block_value: { name: string; required: boolean; nested: HclSpec } }
  | { block_map: { name: string; labels: string[]; nested: HclSpec } }

export const attr = (name: string, type: string, required = false): HclSpec => ({ Attr: { name, type, required } })
/** An attribute with a default; `literal` is an HCL expression (strings need quotes). */
export const withDefault = (name: string, type: string, literal: string): HclSpec => ({
  default: { primary: attr(name, type), default: { literal: { value: literal } } },
})
