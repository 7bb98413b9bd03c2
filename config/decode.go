package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decode fills v, a pointer to a struct, from the YAML document in data.
// Unlike yaml's own decoding, which stops at the first problem, it reports
// every problem in the file, each named by its YAML path and line: unknown
// fields (with the nearest known name), keys given twice, and values of the
// wrong type or form. Only a file that is not YAML at all gives an error.
func decode(data []byte, v any, p *problems) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil
	}
	decodeNode(doc.Content[0], reflect.ValueOf(v).Elem(), "", p)
	return nil
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func decodeNode(n *yaml.Node, v reflect.Value, path string, p *problems) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		decodeNode(n, v.Elem(), path, p)
	case t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType):
		if n.Kind != yaml.MappingNode {
			p.add(fieldOrConfig(path), "want a mapping of fields, got %q (line %d)", n.Value, n.Line)
			return
		}
		names := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			field := key.Value
			if path != "" {
				field = path + "." + key.Value
			}
			idx, known := names[key.Value]
			switch {
			case seen[key.Value]:
				p.add(field, "given more than once (line %d); keep one", key.Line)
			case !known:
				p.add(field, "unknown field%s (line %d)", suggest(key.Value, names), key.Line)
			default:
				seen[key.Value] = true
				decodeNode(val, v.Field(idx), field, p)
			}
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			p.add(fieldOrConfig(path), "want a list, got %q (line %d)", n.Value, n.Line)
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			decodeNode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i), p)
		}
		v.Set(s)
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			p.add(fieldOrConfig(path), "%s (line %d)", yamlMessage(err), n.Line)
		}
	}
}

func fieldOrConfig(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

// yamlFields maps the YAML names of t's fields to their indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// yamlMessage is the message of a decoding error without yaml's prefixes
// and line numbers, which the caller gives with the field.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		if strings.HasPrefix(e, "line ") {
			if _, rest, ok := strings.Cut(e, ": "); ok {
				e = rest
			}
		}
		msgs[i] = e
	}
	return strings.Join(msgs, "; ")
}

// suggest names the known field nearest to a misspelt one, if one is near.
func suggest(name string, known map[string]int) string {
	best, bestDist := "", len(name)/2+1
	for k := range known {
		if d := editDistance(name, k); d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	if best == "" || bestDist > 2 && bestDist*3 > len(name) {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
