// Chart mode: renders a chart's templates the way Helm 3.17's pkg/engine does (one
// template set "gotpl", missingkey=zero, include/tpl/required/fail/lookup, every
// template parsed in Helm's order, partials not executed, "<no value>" removed), for
// hubspoke-render's engine tests. Chart loading, dependencies and values coalescing are
// done by the caller: the case gives each chart's scope already prepared.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

// chartScope is one chart of the tree: its metadata (Chart.yaml fields), files (base64),
// templates (path relative to the chart -> text), whether it is the root, and its
// subcharts. Values come from the parent's table (root: the case's values).
type chartScope struct {
	Name      string            `json:"name"`
	Metadata  Metadata          `json:"metadata"`
	Files     map[string]string `json:"files"`
	Templates map[string]string `json:"templates"`
	Library   bool              `json:"library"`
	Subcharts []chartScope      `json:"subcharts"`
}

type chartCase struct {
	Root        chartScope             `json:"root"`
	Values      json.RawMessage        `json:"values"`
	Release     map[string]interface{} `json:"release"`
	KubeVersion string                 `json:"kubeVersion"`
	APIVersions []string               `json:"apiVersions"`
}

// Metadata mirrors Helm's chart.Metadata (the fields templates read).
type Metadata struct {
	Name        string            `json:"name,omitempty"`
	Home        string            `json:"home,omitempty"`
	Sources     []string          `json:"sources,omitempty"`
	Version     string            `json:"version,omitempty"`
	Description string            `json:"description,omitempty"`
	Keywords    []string          `json:"keywords,omitempty"`
	Icon        string            `json:"icon,omitempty"`
	APIVersion  string            `json:"apiVersion,omitempty"`
	Condition   string            `json:"condition,omitempty"`
	Tags        string            `json:"tags,omitempty"`
	AppVersion  string            `json:"appVersion,omitempty"`
	Deprecated  bool              `json:"deprecated,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	KubeVersion string            `json:"kubeVersion,omitempty"`
	Type        string            `json:"type,omitempty"`
}

type files map[string][]byte

func (f files) GetBytes(name string) []byte {
	if v, ok := f[name]; ok {
		return v
	}
	return []byte{}
}
func (f files) Get(name string) string { return string(f.GetBytes(name)) }
// Glob matches names as gobwas/glob compiled with '/' as the separator (`*` within a
// segment, `**` across, `?`, `[...]`, `[!...]`, `{a,b}`), translated to a regexp here;
// a pattern that does not compile matches everything, as Helm falls back to "**".
func (f files) Glob(pattern string) files {
	re, err := globRegexp(pattern)
	nf := files{}
	for name, contents := range f {
		if err != nil || re.MatchString(name) {
			nf[name] = contents
		}
	}
	return nf
}

func globRegexp(p string) (*regexp.Regexp, error) {
	var sb strings.Builder
	sb.WriteString("^")
	depth := 0
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '*' && i+1 < len(rs) && rs[i+1] == '*':
			sb.WriteString(".*")
			i++
		case c == '*':
			sb.WriteString("[^/]*")
		case c == '?':
			sb.WriteString("[^/]")
		case c == '\\':
			if i+1 >= len(rs) {
				return nil, fmt.Errorf("unexpected end")
			}
			i++
			sb.WriteString(regexp.QuoteMeta(string(rs[i])))
		case c == '[':
			j := i + 1
			neg := j < len(rs) && rs[j] == '!'
			if neg {
				j++
			}
			k := j
			for k < len(rs) && rs[k] != ']' {
				k++
			}
			if k >= len(rs) {
				return nil, fmt.Errorf("unclosed [")
			}
			sb.WriteString("[")
			if neg {
				sb.WriteString("^")
			}
			for _, r := range rs[j:k] {
				if r == '-' {
					sb.WriteRune(r)
				} else {
					sb.WriteString(regexp.QuoteMeta(string(r)))
				}
			}
			sb.WriteString("]")
			i = k
		case c == '{':
			depth++
			sb.WriteString("(?:")
		case c == '}' && depth > 0:
			depth--
			sb.WriteString(")")
		case c == ',' && depth > 0:
			sb.WriteString("|")
		default:
			sb.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unclosed {")
	}
	sb.WriteString("$")
	return regexp.Compile(sb.String())
}

func (f files) AsConfig() string {
	if f == nil {
		return ""
	}
	m := make(map[string]string)
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return filesYAML(m)
}
func (f files) AsSecrets() string {
	if f == nil {
		return ""
	}
	m := make(map[string]string)
	for k, v := range f {
		m[path.Base(k)] = base64.StdEncoding.EncodeToString(v)
	}
	return filesYAML(m)
}
func (f files) Lines(p string) []string {
	if f == nil || f[p] == nil {
		return []string{}
	}
	s := string(f[p])
	if s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return strings.Split(s, "\n")
}

type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (kv *KubeVersion) String() string     { return kv.Version }
func (kv *KubeVersion) GitVersion() string { return kv.Version }

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
}

func filesYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

// helmFuncMap is Helm's funcMap(): sprig without env/expandenv, Helm's data functions
// (helmFuncs, main.go), lookup's empty answer and getHostByName off (DNS disabled).
func helmFuncMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	for k, v := range helmFuncs {
		f[k] = v
	}
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["getHostByName"] = func(string) string { return "" }
	return f
}

const warnStart = "HELM_ERR_START"
const warnEnd = "HELM_ERR_END"

var warnRegex = regexp.MustCompile(warnStart + `((?s).*)` + warnEnd)

func includeFun(t *template.Template, included map[string]int) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		if v, ok := included[name]; ok {
			if v > 1000 {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			included[name]++
		} else {
			included[name] = 1
		}
		err := t.ExecuteTemplate(&buf, name, data)
		included[name]--
		return buf.String(), err
	}
}

func tplFun(parent *template.Template, included map[string]int) func(string, interface{}) (string, error) {
	return func(tpl string, vals interface{}) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %v", err)
		}
		t.Option("missingkey=zero")
		t.Funcs(template.FuncMap{"include": includeFun(t, included), "tpl": tplFun(t, included)})
		t, err = t.New(parent.Name()).Parse(tpl)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", tpl, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", tpl, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

type renderable struct {
	tpl      string
	vals     map[string]interface{}
	basePath string
}

func recAll(c chartScope, fullPath string, isRoot bool, templates map[string]renderable, vals map[string]interface{}) map[string]interface{} {
	subCharts := make(map[string]interface{})
	fs := files{}
	for k, v := range c.Files {
		b, _ := base64.StdEncoding.DecodeString(v)
		fs[k] = b
	}
	next := map[string]interface{}{
		"Chart": struct {
			Metadata
			IsRoot bool
		}{c.Metadata, isRoot},
		"Files":        fs,
		"Release":      vals["Release"],
		"Capabilities": vals["Capabilities"],
		"Values":       make(map[string]interface{}),
		"Subcharts":    subCharts,
	}
	if isRoot {
		next["Values"] = vals["Values"]
	} else if pv, ok := vals["Values"].(map[string]interface{}); ok {
		if t, ok := pv[c.Metadata.Name].(map[string]interface{}); ok {
			next["Values"] = t
		}
	}
	for _, child := range c.Subcharts {
		subCharts[child.Metadata.Name] = recAll(child, fullPath+"/charts/"+child.Metadata.Name, false, templates, next)
	}
	for name, text := range c.Templates {
		if c.Library && !strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		templates[path.Join(fullPath, name)] = renderable{tpl: text, vals: next, basePath: path.Join(fullPath, "templates")}
	}
	return next
}

func renderChart(cc chartCase) (string, error) {
	var raw interface{}
	if len(cc.Values) > 0 {
		if err := json.Unmarshal(cc.Values, &raw); err != nil {
			return "", fmt.Errorf("oracle: bad values: %v", err)
		}
	}
	conv, err := convert(raw)
	if err != nil {
		return "", err
	}
	values, _ := conv.(map[string]interface{})
	if values == nil {
		values = map[string]interface{}{}
	}
	kv := cc.KubeVersion
	parts := strings.SplitN(strings.TrimPrefix(kv, "v"), ".", 3)
	for len(parts) < 2 {
		parts = append(parts, "")
	}
	top := map[string]interface{}{
		"Capabilities": &Capabilities{KubeVersion: KubeVersion{Version: kv, Major: parts[0], Minor: parts[1]}, APIVersions: cc.APIVersions},
		"Release":      cc.Release,
		"Values":       values,
	}
	// Revision is an int in Helm
	if r, ok := cc.Release["Revision"].(float64); ok {
		cc.Release["Revision"] = int(r)
	}
	tpls := map[string]renderable{}
	recAll(cc.Root, cc.Root.Metadata.Name, true, tpls, top)

	t := template.New("gotpl")
	t.Option("missingkey=zero")
	funcs := helmFuncMap()
	included := map[string]int{}
	funcs["include"] = includeFun(t, included)
	funcs["tpl"] = tplFun(t, included)
	funcs["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, fmt.Errorf("%s%s%s", warnStart, warn, warnEnd)
		} else if s, ok := val.(string); ok && s == "" {
			return val, fmt.Errorf("%s%s%s", warnStart, warn, warnEnd)
		}
		return val, nil
	}
	funcs["fail"] = func(msg string) (string, error) {
		return "", fmt.Errorf("%s%s%s", warnStart, msg, warnEnd)
	}
	t.Funcs(funcs)

	keys := make([]string, 0, len(tpls))
	for k := range tpls {
		keys = append(keys, k)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca == cb {
			return a > b
		}
		return ca > cb
	})
	for _, name := range keys {
		if _, err := t.New(name).Parse(tpls[name].tpl); err != nil {
			tokens := strings.Split(err.Error(), ": ")
			if len(tokens) == 1 {
				return "", fmt.Errorf("parse error in (%s): %s", name, err)
			}
			return "", fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
		}
	}
	out := map[string]string{}
	for _, name := range keys {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		r := tpls[name]
		r.vals["Template"] = map[string]interface{}{"Name": name, "BasePath": r.basePath}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, r.vals); err != nil {
			if _, ok := err.(template.ExecError); !ok {
				return "", err
			}
			tokens := strings.SplitN(err.Error(), ": ", 3)
			if len(tokens) != 3 {
				return "", fmt.Errorf("execution error in (%s): %s", name, err)
			}
			if p := warnRegex.FindStringSubmatch(tokens[2]); len(p) >= 2 {
				return "", fmt.Errorf("execution error at (%s): %s", tokens[1], p[1])
			}
			return "", err
		}
		out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	names := make([]string, 0, len(out))
	for k := range out {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		sb.WriteString("--- " + n + "\n" + out[n] + "\n")
	}
	return sb.String(), nil
}
