// Command gotemplate writes golden outputs of Go's text/template for the template subset
// narthex-rules implements, with Prometheus's humanize functions re-stated from their
// documented behaviour. Run: go run main.go > ../../tests/data/go_template.jsonl
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

func toFloat(i interface{}) (float64, error) {
	switch v := i.(type) {
	case float64:
		return v, nil
	case string:
		return strconv.ParseFloat(v, 64)
	case int:
		return float64(v), nil
	default:
		return 0, fmt.Errorf("can't convert %T to float", v)
	}
}

var funcs = template.FuncMap{
	"humanize": func(i interface{}) (string, error) {
		v, err := toFloat(i)
		if err != nil {
			return "", err
		}
		if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("%.4g", v), nil
		}
		if math.Abs(v) >= 1 {
			prefix := ""
			for _, p := range []string{"k", "M", "G", "T", "P", "E", "Z", "Y"} {
				if math.Abs(v) < 1000 {
					break
				}
				prefix = p
				v /= 1000
			}
			return fmt.Sprintf("%.4g%s", v, prefix), nil
		}
		prefix := ""
		for _, p := range []string{"m", "u", "n", "p", "f", "a", "z", "y"} {
			if math.Abs(v) >= 1 {
				break
			}
			prefix = p
			v *= 1000
		}
		return fmt.Sprintf("%.4g%s", v, prefix), nil
	},
	"humanize1024": func(i interface{}) (string, error) {
		v, err := toFloat(i)
		if err != nil {
			return "", err
		}
		if math.Abs(v) <= 1 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("%.4g", v), nil
		}
		prefix := ""
		for _, p := range []string{"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"} {
			if math.Abs(v) < 1024 {
				break
			}
			prefix = p
			v /= 1024
		}
		return fmt.Sprintf("%.4g%s", v, prefix), nil
	},
	"humanizeDuration": func(i interface{}) (string, error) {
		v, err := toFloat(i)
		if err != nil {
			return "", err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("%.4g", v), nil
		}
		if v == 0 {
			return fmt.Sprintf("%.4gs", v), nil
		}
		if math.Abs(v) >= 1 {
			sign := ""
			if v < 0 {
				sign = "-"
				v = -v
			}
			duration := int64(v)
			seconds := duration % 60
			minutes := (duration / 60) % 60
			hours := (duration / 60 / 60) % 24
			days := duration / 60 / 60 / 24
			if days != 0 {
				return fmt.Sprintf("%s%dd %dh %dm %ds", sign, days, hours, minutes, seconds), nil
			}
			if hours != 0 {
				return fmt.Sprintf("%s%dh %dm %ds", sign, hours, minutes, seconds), nil
			}
			if minutes != 0 {
				return fmt.Sprintf("%s%dm %ds", sign, minutes, seconds), nil
			}
			return fmt.Sprintf("%s%.4gs", sign, v), nil
		}
		prefix := ""
		for _, p := range []string{"m", "u", "n", "p", "f", "a", "z", "y"} {
			if math.Abs(v) >= 1 {
				break
			}
			prefix = p
			v *= 1000
		}
		return fmt.Sprintf("%.4g%ss", v, prefix), nil
	},
	"humanizePercentage": func(i interface{}) (string, error) {
		v, err := toFloat(i)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%.4g%%", v*100), nil
	},
	"humanizeTimestamp": func(i interface{}) (string, error) {
		v, err := toFloat(i)
		if err != nil {
			return "", err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("%.4g", v), nil
		}
		if v*1e9 > math.MaxInt64 || v*1e9 < math.MinInt64 {
			return "", fmt.Errorf("%v cannot be represented as a nanoseconds timestamp since it overflows int64", v)
		}
		ms := int64(v*1e9) / 1e6
		return fmt.Sprint(time.Unix(ms/1000, (ms%1000)*1e6).UTC()), nil
	},
	"toDuration": func(i interface{}) (*time.Duration, error) {
		v, err := toFloat(i)
		if err != nil {
			return nil, err
		}
		d := time.Duration(v * float64(time.Second))
		return &d, nil
	},
	"toUpper": strings.ToUpper,
	"toLower": strings.ToLower,
	"title":   strings.Title,
	"reReplaceAll": func(pattern, repl, text string) string {
		return regexp.MustCompile(pattern).ReplaceAllString(text, repl)
	},
	"match": regexp.MatchString,
}

type data struct {
	Labels         map[string]string
	ExternalLabels map[string]string
	ExternalURL    string
	Value          interface{}
}

const defs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

type row struct {
	Template string `json:"template"`
	Value    string `json:"value"`
	Output   string `json:"output"`
	Error    bool   `json:"error"`
	Parse    bool   `json:"parse"`
}

func main() {
	values := []float64{0, 1, -1, 0.5, 0.12, 999.5, 999.96, 1000, 1234.5678, 12345, 99999, 100000,
		1e6, 1234567, 1.5e9, 1e21, 1e30, 1e-3, 1.234e-7, 2.5e-9, -1e-30, 0.000123, 0.0001,
		12345678901234, 1024, 1048575, 1048576, 3.14159, 86399.9, 60, 59.99, 3600.5, 0.0005,
		-0.1, -1234.5, 899.99, 0.1234567, 1435065584.128, 1e-310, math.MaxFloat64,
		math.NaN(), math.Inf(1), math.Inf(-1)}
	templates := []string{
		"{{ humanize $value }}",
		"{{ humanize1024 $value }}",
		"{{ humanizeDuration $value }}",
		"{{ humanizePercentage $value }}",
		"{{ humanizeTimestamp $value }}",
		"{{ $value }}",
		`{{ printf "%.2f" $value }}`,
		`{{ printf "%.3g|%e|%g" $value $value $value }}`,
		`{{ printf "%8.1f|%-8.2f|%+.1f" $value $value $value }}`,
		`{{ printf "%v %s" $value "x" }}`,
		`{{ toDuration $value }}`,
		`{{ if gt $value 100.0 }}big{{ else if lt $value 0.0 }}neg{{ else }}small{{ end }}`,
	}
	fixed := []string{
		`{{ $labels.instance }} {{ .Labels.job }} {{ $labels.nope }}|`,
		`{{ toUpper $labels.job }} {{ toLower "MiXeD" }} {{ title "hello wide world" }}`,
		`{{ reReplaceAll "(.*):(.*)" "$2-$1" $labels.instance }}`,
		`{{ reReplaceAll "o" "0" "foo boo" }}`,
		`{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}`,
		`{{ len $labels }} {{ index $labels "job" }}`,
		`{{ if and (eq $labels.job "node") (ne $labels.instance "") }}yes{{ end }}`,
		`{{ or $labels.nope "default" }}`,
		`{{ $externalLabels.cluster }} {{ $externalURL }}`,
		`{{ print 1 2 "a" "b" 3 }}`,
		`{{ printf "%d-%s-%q-%5s-%-5s|" 42 "x" "y" "r" "l" }}`,
		`{{ printf "%05.1f %x %X" 3.14159 255 255 }}`,
		`{{- " a " -}} b {{- " c " }}`,
		`{{ with $labels.job }}job={{ . }}{{ end }}{{ with $labels.nope }}x{{ else }}none{{ end }}`,
		`{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}`,
		`{{ match "^loc" $labels.instance }} {{ not true }} {{ eq 1 1 2 }}`,
		`{{ .Value }} {{ 1.5 }} {{ 2 }} {{ 1e3 }} {{ -7 }} {{ 0x1F }}`,
	}
	enc := json.NewEncoder(os.Stdout)
	run := func(text string, v interface{}) {
		d := data{
			Labels:         map[string]string{"instance": "localhost:9090", "job": "node"},
			ExternalLabels: map[string]string{"cluster": "eu1"},
			ExternalURL:    "http://prom.example",
			Value:          v,
		}
		r := row{Template: text}
		switch x := v.(type) {
		case float64:
			r.Value = strconv.FormatFloat(x, 'g', -1, 64)
		}
		t, err := template.New("t").Funcs(funcs).Option("missingkey=zero").Parse(defs + text)
		if err != nil {
			r.Error = true
			r.Parse = true
			r.Output = err.Error()
		} else {
			var b bytes.Buffer
			if err := t.Execute(&b, d); err != nil {
				r.Error = true
				r.Output = err.Error()
			} else {
				r.Output = b.String()
			}
		}
		enc.Encode(r)
	}
	for _, t := range templates {
		for _, v := range values {
			run(t, v)
		}
	}
	for _, t := range fixed {
		run(t, 1234.5)
	}
	broken := []string{
		"{{ $labels.x",
		"{{ if $value }}yes",
		"yes{{ end }}",
		"{{ nosuch 1 }}",
		"{{ $nope }}",
		"{{ else }}",
		"line1\n{{ if 1 }}\n{{ end }}{{ end }}",
		"{{ range $labels }}",
		"{{ }}",
	}
	for _, t := range broken {
		run(t, 1.0)
	}
}
