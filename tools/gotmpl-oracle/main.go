// gotmpl-oracle renders templates with Go's text/template (and sprig's function map, as
// Helm's engine registers it) for hubspoke-render's differential tests.
//
// Input (stdin): a JSON array of cases {"name", "template", "data", "missingkey", "sprig",
// "funcs"}.
// Data is JSON, decoded as encoding/json does (numbers are float64), with tagged objects
// for other Go kinds: {"$int": n} is an int, {"$int64": n} an int64, {"$func": "name"}
// one of the functions below ("funcs": true also registers them as a FuncMap).
// Output (stdout): a JSON array of {"output": string} or {"error": string}, one per case.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/BurntSushi/toml"
	sprig "github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
	yamlv3 "gopkg.in/yaml.v3"
)

type tcase struct {
	Name       string          `json:"name"`
	Template   string          `json:"template"`
	Data       json.RawMessage `json:"data"`
	MissingKey string          `json:"missingkey"`
	Sprig      bool            `json:"sprig"`
	// Helm registers Helm 3.17's data functions (pkg/engine/funcs.go) after sprig's.
	Helm bool `json:"helm"`
	// Funcs registers the functions below as a FuncMap too (for user-function cases).
	Funcs bool `json:"funcs"`
	// Chart renders a chart's templates as Helm's engine does (chart.go).
	Chart *chartCase `json:"chart"`
}

type result struct {
	Output *string `json:"output,omitempty"`
	Error  *string `json:"error,omitempty"`
}

var funcs = map[string]interface{}{
	"add":   func(a, b int) int { return a + b },
	"greet": func() string { return "hello" },
	"fail":  func() (string, error) { return "", errors.New("boom") },
	"join":  func(sep string, parts ...string) string { return strings.Join(parts, sep) },
	"twice": func(x interface{}) []interface{} { return []interface{}{x, x} },
	"add64": func(a, b int64) int64 { return a + b },
}

// helmFuncs are Helm 3.17's toToml, fromToml, toYaml, toYamlPretty, fromYaml,
// fromYamlArray, toJson, fromJson and fromJsonArray, as pkg/engine/funcs.go defines them.
// ghodss/yaml (Debian) stands in for sigs.k8s.io/yaml v1.4.0: the same JSON round trip
// over yaml.v2 2.4.0 (sigs.k8s.io vendors an identical copy); BurntSushi/toml is Debian's
// 1.2.0 where Helm has 1.4.0.
var helmFuncs = template.FuncMap{
	"toToml": func(v interface{}) string {
		b := bytes.NewBuffer(nil)
		if err := toml.NewEncoder(b).Encode(v); err != nil {
			return err.Error()
		}
		return b.String()
	},
	"fromToml": func(str string) map[string]interface{} {
		m := make(map[string]interface{})
		if err := toml.Unmarshal([]byte(str), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	},
	"toYaml": func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	},
	"toYamlPretty": func(v interface{}) string {
		var data bytes.Buffer
		enc := yamlv3.NewEncoder(&data)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return ""
		}
		return strings.TrimSuffix(data.String(), "\n")
	},
	"fromYaml": func(str string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(str), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	},
	"fromYamlArray": func(str string) []interface{} {
		a := []interface{}{}
		if err := yaml.Unmarshal([]byte(str), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	},
	"toJson": func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	},
	"fromJson": func(str string) map[string]interface{} {
		m := make(map[string]interface{})
		if err := json.Unmarshal([]byte(str), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	},
	"fromJsonArray": func(str string) []interface{} {
		a := []interface{}{}
		if err := json.Unmarshal([]byte(str), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	},
}

func convert(v interface{}) (interface{}, error) {
	switch x := v.(type) {
	case map[string]interface{}:
		if len(x) == 1 {
			if n, ok := x["$int"]; ok {
				f, ok := n.(float64)
				if !ok {
					return nil, fmt.Errorf("$int wants a number")
				}
				return int(f), nil
			}
			if n, ok := x["$int64"]; ok {
				f, ok := n.(float64)
				if !ok {
					return nil, fmt.Errorf("$int64 wants a number")
				}
				return int64(f), nil
			}
			if n, ok := x["$func"]; ok {
				name, _ := n.(string)
				f, ok := funcs[name]
				if !ok {
					return nil, fmt.Errorf("unknown $func %q", name)
				}
				return f, nil
			}
		}
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			c, err := convert(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			c, err := convert(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return v, nil
}

func render(c tcase) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("oracle panic: %v", r)
		}
	}()
	var raw interface{}
	if len(c.Data) > 0 {
		if err := json.Unmarshal(c.Data, &raw); err != nil {
			return "", fmt.Errorf("oracle: bad data: %v", err)
		}
	}
	data, err := convert(raw)
	if err != nil {
		return "", fmt.Errorf("oracle: %v", err)
	}
	mk := c.MissingKey
	if mk == "" {
		mk = "default"
	}
	name := c.Name
	t := template.New(name)
	if c.Sprig {
		t = t.Funcs(sprig.TxtFuncMap())
	}
	if c.Helm {
		t = t.Funcs(helmFuncs)
	}
	if c.Funcs {
		t = t.Funcs(funcs)
	}
	t = t.Option("missingkey=" + mk)
	t, err = t.Parse(c.Template)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func main() {
	var cases []tcase
	dec := json.NewDecoder(os.Stdin)
	if err := dec.Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, "gotmpl-oracle: reading cases:", err)
		os.Exit(2)
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		var out string
		var err error
		if c.Chart != nil {
			out, err = renderChart(*c.Chart)
		} else {
			out, err = render(c)
		}
		if err != nil {
			e := err.Error()
			results[i].Error = &e
		} else {
			results[i].Output = &out
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "gotmpl-oracle: writing results:", err)
		os.Exit(2)
	}
}
