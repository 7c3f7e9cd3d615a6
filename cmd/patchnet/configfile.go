package main

import (
	"encoding"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchnet/patchnet/internal/duration"
	"github.com/patchnet/patchnet/node"
	"github.com/patchnet/patchnet/trust"
)

// The commented config file `patchnet init` writes: renderConfig renders
// a node.Config as TOML, each key with its help text and example
// (confighelp.go).

// commentedOut reports whether the key at path is written as a comment
// for role: it is ignored, or it is for another role.
func commentedOut(role trust.Role, path string) bool {
	switch path {
	case "overlay.zone", "overlay.supernode":
		return true // set by the node itself
	case "cosign":
		return role != trust.RoleSupernode
	case "install", "retention", "report":
		return role != trust.RoleAgent
	}
	return false
}

// omitted reports whether the key at path is left out for role.
func omitted(role trust.Role, path string) bool {
	return role == trust.RolePublisher && (path == "install" || path == "cosign" || path == "retention")
}

// renderConfig writes cfg as a commented TOML config file for role.
func renderConfig(role trust.Role, cfg node.Config, missing []missingKey) ([]byte, error) {
	w := &configWriter{role: role}
	w.intro(cfg, missing)
	w.table(nil, nil, reflect.ValueOf(cfg), reflect.ValueOf(node.DefaultConfig()), false)
	if w.err != nil {
		return nil, fmt.Errorf("rendering the config: %w", w.err)
	}
	return []byte(w.b.String()), nil
}

// configWriter renders a config struct as commented TOML.
type configWriter struct {
	b    strings.Builder
	role trust.Role
	err  error // the first value TOML cannot hold
}

// intro is the file's opening comment.
func (w *configWriter) intro(cfg node.Config, missing []missingKey) {
	w.comment(fmt.Sprintf("patchnet %s configuration, written by `patchnet init %s` (patchnet %s).", w.role, w.role, buildVersion()))
	switch w.role {
	case trust.RoleAgent, trust.RoleSupernode:
		w.comment(fmt.Sprintf("Run it with: patchnet %s --config FILE", w.role))
	}
	w.b.WriteString("#\n")
	w.comment("Every key is here with a comment saying what it does, set to its default unless a flag of `patchnet init` set it. A key left out takes its default, which a later patchnet may change. Lines starting with a \"#\" and no space are keys and examples commented out: remove the \"#\" to use them.")
	if w.role == trust.RolePublisher {
		w.comment("[install] (agents) and [cosign] (supernodes) are left out: a publisher neither installs nor co-signs.")
	}
	w.b.WriteString("#\n")
	w.comment(fmt.Sprintf("The node's key and certificate: `patchnet cert request --role %s --zone ZONE --out %s` writes node.key and node.csr; the zone CA signs the request (`patchnet ca sign --ca ZONEDIR %s`), writing node.crt.",
		w.role, filepath.Dir(cfg.Key), filepath.Join(filepath.Dir(cfg.Key), "node.csr")))
	if len(missing) > 0 {
		w.b.WriteString("#\n")
		w.comment("To fill in before the node starts:")
		for _, m := range missing {
			w.b.WriteString("#   " + m.key + ": " + m.why + "\n")
		}
	}
}

// table writes the keys of the struct v, the table at tomlPath (with map
// keys) and helpPath (with "*" for map keys), then its sub-tables. def is
// the same table of the defaults, or invalid where there are none.
func (w *configWriter) table(tomlPath, helpPath []string, v, def reflect.Value, commented bool) {
	// Values first: TOML puts a table's keys before its sub-tables.
	w.fields(tomlPath, helpPath, v, def, commented, func(tp, hp []string, fv, dv reflect.Value, c bool) {
		switch kindOf(fv.Type()) {
		case kindValue:
			w.value(tp, hp, fv, dv, c)
		case kindValueMap:
			if fv.Len() == 0 || c {
				w.inlineMap(tp, hp, fv, dv, c)
			}
		}
	})
	w.fields(tomlPath, helpPath, v, def, commented, w.subTable)
}

// subTable writes the field at tomlPath as a table, if it is one.
func (w *configWriter) subTable(tp, hp []string, fv, dv reflect.Value, c bool) {
	switch kindOf(fv.Type()) {
	case kindTable:
		w.header(tp, hp, reflect.Value{}, c)
		w.table(tp, hp, fv, dv, c)
	case kindOptionalTable:
		if fv.IsNil() {
			fv, c = w.example(hp, fv), true
		}
		if fv.IsNil() {
			return
		}
		w.header(tp, hp, reflect.Value{}, c)
		w.table(tp, hp, fv.Elem(), reflect.Value{}, c)
	case kindValueMap:
		if fv.Len() > 0 && !c {
			w.header(tp, hp, dv, c)
			w.mapEntries(fv)
		}
	case kindTableMap:
		if fv.Len() == 0 {
			fv, c = w.example(hp, fv), true
		}
		for i, name := range sortedKeys(fv) {
			etp, ehp := extend(tp, name), extend(hp, "*")
			if i == 0 {
				w.header(etp, hp, reflect.Value{}, c)
			} else {
				w.b.WriteString("\n" + commentMark(c) + "[" + tomlPathText(etp) + "]\n")
			}
			w.table(etp, ehp, fv.MapIndex(reflect.ValueOf(name).Convert(fv.Type().Key())), reflect.Value{}, c)
		}
	}
}

// fields calls each with every field of the struct v that this role's file
// has: its TOML path, help path, value, default (fieldOf def) and whether
// it is written commented out.
func (w *configWriter) fields(tomlPath, helpPath []string, v, def reflect.Value, commented bool,
	each func(tp, hp []string, fv, dv reflect.Value, c bool)) {
	for _, k := range tomlKeys(v.Type()) {
		tp, hp := extend(tomlPath, k.name), extend(helpPath, k.name)
		if omitted(w.role, dotted(hp)) {
			continue
		}
		each(tp, hp, v.Field(k.index), fieldOf(def, k.index), commented || commentedOut(w.role, dotted(hp)))
	}
}

// header writes the help of the table at helpPath and its [header]; def is
// the table's default when the help should say it (a map of values).
func (w *configWriter) header(tomlPath, helpPath []string, def reflect.Value, commented bool) {
	w.b.WriteString("\n")
	w.help(dotted(helpPath), def)
	w.b.WriteString(commentMark(commented) + "[" + tomlPathText(tomlPath) + "]\n")
}

// value writes one key = value line with its help.
func (w *configWriter) value(tomlPath, helpPath []string, v, def reflect.Value, commented bool) {
	if isEmpty(v) && !commented {
		if ex, ok := configExamples[dotted(helpPath)]; ok {
			w.b.WriteString("\n")
			w.help(dotted(helpPath), def)
			w.b.WriteString(tomlKeyText(tomlPath[len(tomlPath)-1]) + " = " + w.text(v) + "\n")
			w.b.WriteString("#" + tomlKeyText(tomlPath[len(tomlPath)-1]) + " = " + w.text(reflect.ValueOf(ex)) + "\n")
			return
		}
	}
	w.b.WriteString("\n")
	w.help(dotted(helpPath), def)
	w.b.WriteString(commentMark(commented) + tomlKeyText(tomlPath[len(tomlPath)-1]) + " = " + w.text(v) + "\n")
}

// inlineMap writes a map of values on one line: a commented-out example
// when it is empty, the map itself inside a commented-out table.
func (w *configWriter) inlineMap(tomlPath, helpPath []string, v, def reflect.Value, commented bool) {
	name := tomlKeyText(tomlPath[len(tomlPath)-1])
	w.b.WriteString("\n")
	w.help(dotted(helpPath), def)
	if v.Len() == 0 {
		if ex, ok := configExamples[dotted(helpPath)]; ok {
			w.b.WriteString("#" + name + " = " + w.inline(reflect.ValueOf(ex)) + "\n")
			return
		}
	}
	w.b.WriteString(commentMark(commented) + name + " = " + w.inline(v) + "\n")
}

// mapEntries writes the entries of a map of values, one per line.
func (w *configWriter) mapEntries(v reflect.Value) {
	for _, k := range sortedKeys(v) {
		w.b.WriteString(tomlKeyText(k) + " = " + w.text(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))) + "\n")
	}
}

// example is the example for the key at helpPath, or empty v if it has
// none.
func (w *configWriter) example(helpPath []string, v reflect.Value) reflect.Value {
	ex, ok := configExamples[dotted(helpPath)]
	if !ok || !reflect.TypeOf(ex).AssignableTo(v.Type()) {
		return v
	}
	return reflect.ValueOf(ex)
}

// help writes the help of the key at path, its role note and its default.
func (w *configWriter) help(path string, def reflect.Value) {
	text := configHelp[path]
	if note := roleNotes[w.role][path]; note != "" {
		text = strings.TrimSpace(text + " " + note)
	}
	if def.IsValid() && text != "" && !strings.Contains(text, "Default") && !strings.Contains(text, "Required") {
		text += " Default: " + w.defaultText(def) + "."
	}
	w.comment(text)
}

// defaultText is a default as the help says it.
func (w *configWriter) defaultText(v reflect.Value) string {
	if isEmpty(v) {
		return "none"
	}
	if kindOf(v.Type()) == kindValueMap {
		return w.inline(v)
	}
	return w.text(v)
}

// comment writes text as "# " lines of at most 78 columns.
func (w *configWriter) comment(text string) {
	line := "#"
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > 78 && line != "#" {
			w.b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + word
	}
	if line != "#" {
		w.b.WriteString(line + "\n")
	}
}

// commentMark starts a commented-out line of TOML: "#" with no space, so
// it reads as a key rather than prose.
func commentMark(commented bool) string {
	if commented {
		return "#"
	}
	return ""
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

// text is v as a TOML value.
func (w *configWriter) text(v reflect.Value) string {
	if d, ok := v.Interface().(duration.Duration); ok {
		return tomlString(shortDuration(time.Duration(d)))
	}
	if v.Type().Implements(textMarshalerType) {
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			w.fail(err)
		}
		return w.str(string(b))
	}
	switch v.Kind() {
	case reflect.String:
		return w.str(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		s := strconv.FormatFloat(v.Float(), 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") { // TOML reads "-10" as an integer
			s += ".0"
		}
		return s
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = w.text(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		return w.inline(v)
	}
	w.fail(fmt.Errorf("a %s cannot be written as TOML", v.Type()))
	return `""`
}

// inline is a map of values as a TOML inline table.
func (w *configWriter) inline(v reflect.Value) string {
	if v.Len() == 0 {
		return "{}"
	}
	parts := make([]string, 0, v.Len())
	for _, k := range sortedKeys(v) {
		parts = append(parts, tomlKeyText(k)+" = "+w.text(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// str is s as a TOML string, failing for text TOML cannot hold.
func (w *configWriter) str(s string) string {
	if !utf8.ValidString(s) {
		w.fail(fmt.Errorf("%q is not UTF-8, which TOML requires", s))
	}
	return tomlString(s)
}

// fail records err unless an earlier error is recorded.
func (w *configWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// tomlString is s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// shortDuration is d as Go writes it without zero units: 10m, not 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// tomlKeyText is one key as TOML writes it: bare when it can be.
func tomlKeyText(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return tomlString(k)
}

// tomlPathText is a table's dotted path as a [header] writes it.
func tomlPathText(path []string) string {
	parts := make([]string, len(path))
	for i, k := range path {
		parts[i] = tomlKeyText(k)
	}
	return strings.Join(parts, ".")
}

// keyKind is how a config field is written.
type keyKind int

const (
	kindValue         keyKind = iota // key = value
	kindTable                        // a struct: [key]
	kindOptionalTable                // a pointer to a struct: [key] when set
	kindValueMap                     // a map of values: [key] of name = value
	kindTableMap                     // a map of structs: one [key.name] each
)

// kindOf is how a field of type t is written.
func kindOf(t reflect.Type) keyKind {
	if t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		return kindValue
	}
	switch t.Kind() {
	case reflect.Struct:
		return kindTable
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			return kindOptionalTable
		}
	case reflect.Map:
		if k := kindOf(t.Elem()); k == kindTable || k == kindOptionalTable {
			return kindTableMap
		}
		return kindValueMap
	}
	return kindValue
}

// tomlKey is a field of a config struct and the key TOML reads it from.
type tomlKey struct {
	name  string
	index int
}

// tomlKeys are the keys of struct type t in field order, as go-toml reads
// them: the toml tag's name, else the field's; fields tagged "-" and
// unexported ones are no keys.
func tomlKeys(t reflect.Type) []tomlKey {
	var keys []tomlKey
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		keys = append(keys, tomlKey{name, i})
	}
	return keys
}

// configKeyPaths lists every key and table of a config struct type by its
// dotted path, "*" standing for a map's keys: what configHelp covers.
func configKeyPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for _, k := range tomlKeys(t) {
		p := prefix + k.name
		paths = append(paths, p)
		ft := t.Field(k.index).Type
		switch kindOf(ft) {
		case kindTable:
			paths = append(paths, configKeyPaths(ft, p+".")...)
		case kindOptionalTable:
			paths = append(paths, configKeyPaths(ft.Elem(), p+".")...)
		case kindTableMap:
			et := ft.Elem()
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			paths = append(paths, configKeyPaths(et, p+".*.")...)
		}
	}
	return paths
}

// fieldOf is field i of struct v, or invalid if v is.
func fieldOf(v reflect.Value, i int) reflect.Value {
	if !v.IsValid() {
		return v
	}
	return v.Field(i)
}

// isEmpty reports whether v is an empty string, slice or map.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return false
}

// sortedKeys are the keys of a map with string keys, sorted.
func sortedKeys(v reflect.Value) []string {
	keys := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	return keys
}

// extend is path with key appended, never sharing path's array.
func extend(path []string, key string) []string {
	return append(append(make([]string, 0, len(path)+1), path...), key)
}

// dotted is a path joined by dots.
func dotted(path []string) string { return strings.Join(path, ".") }
