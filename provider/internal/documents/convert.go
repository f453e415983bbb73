package documents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Member is one key of an Ordered object.
type Member struct {
	Key   string
	Value any
}

// Ordered is a JSON object that keeps its keys in the order written: a
// document reads as operators write it (kind first, then the table's order).
type Ordered []Member

// MarshalJSON writes the members in order.
func (o Ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ErrUnknown: a value is not known yet (planned from another resource).
var ErrUnknown = errors.New("a value is not known until apply")

// Encode builds the document of kind from obj, an object holding (at least)
// the fields' attributes: null attributes are left out, as operators leave
// out what they do not set.
func Encode(kind string, fields []Field, obj tftypes.Value) (Ordered, error) {
	var attrs map[string]tftypes.Value
	if err := obj.As(&attrs); err != nil {
		return nil, err
	}
	for _, f := range fields { // the resource's own computed attributes may be unknown
		if v, ok := attrs[f.Attr]; ok && !v.IsFullyKnown() {
			return nil, ErrUnknown
		}
	}
	doc := Ordered{{Key: "kind", Value: kind}}
	members, err := encodeObject(fields, obj)
	if err != nil {
		return nil, err
	}
	return append(doc, members...), nil
}

func encodeObject(fields []Field, obj tftypes.Value) (Ordered, error) {
	var attrs map[string]tftypes.Value
	if err := obj.As(&attrs); err != nil {
		return nil, err
	}
	out := Ordered{}
	for _, f := range fields {
		v, ok := attrs[f.Attr]
		if !ok || v.IsNull() {
			continue
		}
		value, err := encodeValue(f, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Attr, err)
		}
		if f.Written != nil {
			value = f.Written(value)
		}
		out = append(out, Member{Key: f.Key, Value: value})
	}
	return out, nil
}

func encodeValue(f Field, v tftypes.Value) (any, error) {
	switch f.Kind {
	case String:
		var s string
		err := v.As(&s)
		return s, err
	case Int:
		return encodeInt(v)
	case Bool:
		var b bool
		err := v.As(&b)
		return b, err
	case StringList:
		var list []tftypes.Value
		if err := v.As(&list); err != nil {
			return nil, err
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			var s string
			if err := e.As(&s); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	case StringMap, IntMap:
		var m map[string]tftypes.Value
		if err := v.As(&m); err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := Ordered{}
		for _, k := range keys {
			var value any
			var err error
			if f.Kind == IntMap {
				value, err = encodeInt(m[k])
			} else {
				var s string
				err = m[k].As(&s)
				value = s
			}
			if err != nil {
				return nil, err
			}
			out = append(out, Member{Key: k, Value: value})
		}
		return out, nil
	case Object:
		return encodeObject(f.Fields, v)
	case ObjectList:
		var list []tftypes.Value
		if err := v.As(&list); err != nil {
			return nil, err
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			o, err := encodeObject(f.Fields, e)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown kind %d", f.Kind)
}

func encodeInt(v tftypes.Value) (int64, error) {
	n := new(big.Float)
	if err := v.As(&n); err != nil {
		return 0, err
	}
	i, accuracy := n.Int64()
	if accuracy != big.Exact {
		return 0, fmt.Errorf("%s is not a whole number", n.Text('g', -1))
	}
	return i, nil
}

// ParseStored reads a stored document (raw JSON, numbers kept exact).
func ParseStored(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the stored document is not JSON: %w", err)
	}
	if s, ok := v.(string); ok {
		// The API shows a document that is not JSON as a string.
		return ParseStored([]byte(s))
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the stored document is not a JSON object")
	}
	return doc, nil
}

// Decode turns a stored document into the fields' attribute values, typed
// as typ (the resource's object type). What cannot be shown (a value of the
// wrong type, a field the table does not know) is a problem, each naming
// the field; such a field shows as unset, so the next plan writes the
// configured value over it.
func Decode(fields []Field, doc map[string]any, typ tftypes.Object) (map[string]tftypes.Value, []string) {
	var problems []string
	out := map[string]tftypes.Value{}
	for key := range doc {
		if _, ok := Find(fields, key); !ok && key != "kind" {
			problems = append(problems, fmt.Sprintf("%s: a field the provider does not know; it is left out of the state", key))
		}
	}
	sort.Strings(problems)
	for _, f := range fields {
		t := typ.AttributeTypes[f.Attr]
		v, err := decodeField(f, doc, t, f.Key)
		if err != nil {
			problems = append(problems, err.Error())
			v = tftypes.NewValue(t, nil)
		}
		out[f.Attr] = v
	}
	return out, problems
}

func decodeField(f Field, doc map[string]any, t tftypes.Type, at string) (tftypes.Value, error) {
	raw, present := doc[f.Key]
	if present && f.Stored != nil {
		raw = f.Stored(raw)
	}
	if !present || raw == nil {
		return tftypes.NewValue(t, nil), nil
	}
	return decodeValue(f, raw, t, at)
}

func decodeValue(f Field, raw any, t tftypes.Type, at string) (tftypes.Value, error) {
	wrong := func(what string) error {
		shown, _ := json.Marshal(raw)
		if len(shown) > 60 {
			shown = append(shown[:57], "..."...)
		}
		return fmt.Errorf("%s: the stored value %s is not %s; it shows as unset", at, shown, what)
	}
	switch f.Kind {
	case String:
		s, ok := raw.(string)
		if !ok {
			return tftypes.Value{}, wrong("a string")
		}
		return tftypes.NewValue(t, s), nil
	case Int:
		n, ok := decodeInt(raw)
		if !ok {
			return tftypes.Value{}, wrong("a whole number")
		}
		return tftypes.NewValue(t, n), nil
	case Bool:
		b, ok := raw.(bool)
		if !ok {
			return tftypes.Value{}, wrong("true or false")
		}
		return tftypes.NewValue(t, b), nil
	case StringList:
		list, ok := raw.([]any)
		if !ok {
			return tftypes.Value{}, wrong("a list of strings")
		}
		elem := t.(tftypes.List).ElementType
		values := make([]tftypes.Value, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return tftypes.Value{}, wrong("a list of strings")
			}
			values = append(values, tftypes.NewValue(elem, s))
		}
		return tftypes.NewValue(t, values), nil
	case StringMap, IntMap:
		m, ok := raw.(map[string]any)
		if !ok {
			return tftypes.Value{}, wrong("an object")
		}
		elem := t.(tftypes.Map).ElementType
		values := map[string]tftypes.Value{}
		for k, e := range m {
			if f.Kind == IntMap {
				n, ok := decodeInt(e)
				if !ok {
					return tftypes.Value{}, wrong("an object of whole numbers")
				}
				values[k] = tftypes.NewValue(elem, n)
			} else {
				s, ok := e.(string)
				if !ok {
					return tftypes.Value{}, wrong("an object of strings")
				}
				values[k] = tftypes.NewValue(elem, s)
			}
		}
		return tftypes.NewValue(t, values), nil
	case Object:
		m, ok := raw.(map[string]any)
		if !ok {
			return tftypes.Value{}, wrong("an object")
		}
		return decodeObject(f.Fields, m, t.(tftypes.Object), at)
	case ObjectList:
		list, ok := raw.([]any)
		if !ok {
			return tftypes.Value{}, wrong("a list")
		}
		elem := t.(tftypes.List).ElementType.(tftypes.Object)
		values := make([]tftypes.Value, 0, len(list))
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return tftypes.Value{}, wrong("a list of objects")
			}
			v, err := decodeObject(f.Fields, m, elem, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return tftypes.Value{}, err
			}
			values = append(values, v)
		}
		return tftypes.NewValue(t, values), nil
	}
	return tftypes.Value{}, fmt.Errorf("%s: unknown kind %d", at, f.Kind)
}

func decodeObject(fields []Field, m map[string]any, t tftypes.Object, at string) (tftypes.Value, error) {
	for key := range m {
		if _, ok := Find(fields, key); !ok {
			return tftypes.Value{}, fmt.Errorf("%s.%s: a field the provider does not know; %s shows as unset", at, key, at)
		}
	}
	values := map[string]tftypes.Value{}
	for _, f := range fields {
		v, err := decodeField(f, m, t.AttributeTypes[f.Attr], at+"."+f.Key)
		if err != nil {
			return tftypes.Value{}, err
		}
		values[f.Attr] = v
	}
	return tftypes.NewValue(t, values), nil
}

func decodeInt(raw any) (*big.Float, bool) {
	var text string
	switch n := raw.(type) {
	case json.Number:
		text = n.String()
	case float64:
		text = strconv.FormatFloat(n, 'f', -1, 64)
	default:
		return nil, false
	}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return nil, false
	}
	return new(big.Float).SetInt64(i), true
}

// AttributePath turns the JSON path a validator error names (resources.memoryMB,
// grants.buckets[2], env.KEY, constraints[0].value) into the attribute's path,
// as deep as the table knows it; `name` is the resource's name, and `$`,
// `kind` or an unknown field the resource itself (an empty path).
func AttributePath(fields []Field, field string) path.Path {
	if field == "name" {
		return path.Root("name")
	}
	p := path.Empty()
	current := fields
	var inside *Field // the field whose value the next segment is in
	for _, seg := range segments(field) {
		if inside != nil {
			switch inside.Kind {
			case StringList, ObjectList:
				i, err := strconv.Atoi(seg)
				if err != nil {
					return p
				}
				p = p.AtListIndex(i)
				if inside.Kind == StringList {
					return p
				}
				current, inside = inside.Fields, nil
				continue
			case StringMap, IntMap:
				return p.AtMapKey(seg)
			}
		}
		f, ok := Find(current, seg)
		if !ok {
			return p
		}
		if len(p.Steps()) == 0 {
			p = path.Root(f.Attr)
		} else {
			p = p.AtName(f.Attr)
		}
		switch f.Kind {
		case Object:
			current = f.Fields
		case StringList, ObjectList, StringMap, IntMap:
			found := f
			inside = &found
		default:
			return p
		}
	}
	return p
}

// segments splits a.b[2].c into a, b, 2, c.
func segments(field string) []string {
	var out []string
	for _, part := range strings.Split(field, ".") {
		for {
			open := strings.IndexByte(part, '[')
			if open < 0 {
				break
			}
			if open > 0 {
				out = append(out, part[:open])
			}
			end := strings.IndexByte(part[open:], ']')
			if end < 0 {
				break
			}
			out = append(out, part[open+1:open+end])
			part = part[open+end+1:]
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}
