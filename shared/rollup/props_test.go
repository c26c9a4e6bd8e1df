package rollup

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// sortedProps orders ps for comparison; none is nil.
func sortedProps(ps []PropValue) []PropValue {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b PropValue) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

func TestEventProps(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []PropValue
	}{
		{``, nil},
		{`{}`, nil},
		{`[1, 2]`, nil},
		{`"plan"`, nil},
		{`{"plan": "pro"`, nil},
		{`{"plan": "pro"} {"x": 1}`, nil},
		{` {"plan": "pro", "n": 5.0, "ok": true, "off": false} `, []PropValue{
			{"n", "n5e0"}, {"off", "bfalse"}, {"ok", "btrue"}, {"plan", "spro"},
		}},
		// Nested values and nulls are never equal to a filter value.
		{`{"a": null, "b": {"c": 1}, "d": [1], "e": ""}`, []PropValue{{"e", "s"}}},
		// Escapes resolve, in keys and values.
		{`{"pl\u0061n": "caf\u00e9 \"x\""}`, []PropValue{{"plan", `scafé "x"`}}},
		// The last of a duplicate key wins, as in jsonb, even when it is
		// not a scalar.
		{`{"a": 1, "b": 2, "a": "x"}`, []PropValue{{"a", "sx"}, {"b", "n2e0"}}},
		{`{"a": 1, "a": null}`, nil},
		// Numbers too large to canonicalise match nothing.
		{`{"a": 1e99999999}`, nil},
		// An exponent may have leading zeros; zero is zero whatever its
		// exponent. PostgreSQL stores these as 5 and 0.
		{`{"a": 5e0000000000, "b": 1e-00000000001, "c": 0e5000000, "d": -0.0e99999999999}`, []PropValue{
			{"a", "n5e0"}, {"b", "n1e-1"}, {"c", "n0"}, {"d", "n0"},
		}},
	} {
		assert.Equal(t, sortedProps(tc.want), sortedProps(EventProps([]byte(tc.in))), "%s", tc.in)
	}
}

func TestPropValueOf(t *testing.T) {
	for _, tc := range []struct {
		in, key, want string
		ok            bool
	}{
		{``, "plan", "", false},
		{`[1]`, "plan", "", false},
		{`{"plan": "pro"`, "plan", "", false},
		{` {"plan": "pro", "n": 5.0} `, "plan", "spro", true},
		{`{"plan": "pro", "n": 5.0}`, "n", "n5e0", true},
		{`{"plan": "pro"}`, "n", "", false},
		{`{"a": {"plan": "pro"}}`, "plan", "", false},
		{`{"pl\u0061n": "x"}`, "plan", "sx", true},
		{`{"a": 1, "a": "x"}`, "a", "sx", true},
		{`{"a": 1, "a": null}`, "a", "", false},
		{`{"a": null, "a": true}`, "a", "btrue", true},
	} {
		v, ok := PropValueOf([]byte(tc.in), tc.key)
		assert.Equal(t, tc.want, v, "%s %s", tc.in, tc.key)
		assert.Equal(t, tc.ok, ok, "%s %s", tc.in, tc.key)
	}
}

func TestCanonicalNumber(t *testing.T) {
	for in, want := range map[string]string{
		"5": "5e0", "5.0": "5e0", "50e-1": "5e0", "5E+0": "5e0", "5e0000000000": "5e0", "0.5e001": "5e0",
		"-0": "0", "0e1048577": "0", "0.000e-99999999999": "0", "100": "1e2", "-12.50": "-125e-1",
	} {
		got, ok := CanonicalNumber(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-", "05", ".5", "5.", "5e", "5e+", "+5", "1e1048577", "1e99999999999", "5 ", "0x1"} {
		_, ok := CanonicalNumber(in)
		assert.False(t, ok, in)
	}
}

// TestEventPropsManyMembers covers the duplicate check of large objects.
func TestEventPropsManyMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"dup": 1`)
	var want []PropValue
	for i := range 40 {
		k := string(rune('a'+i%26)) + strings.Repeat("k", i/26+1)
		b.WriteString(`, "` + k + `": true`)
		want = append(want, PropValue{k, "btrue"})
	}
	b.WriteString(`, "dup": 2}`)
	want = append(want, PropValue{"dup", "n2e0"})
	assert.Equal(t, sortedProps(want), sortedProps(EventProps([]byte(b.String()))))
}

// decodedProps is what EventProps must return, by way of encoding/json:
// slower, and obviously right.
func decodedProps(props []byte) []PropValue {
	var m map[string]json.RawMessage
	if json.Unmarshal(props, &m) != nil {
		return nil
	}
	var out []PropValue
	for k, raw := range m {
		raw = bytes.TrimSpace(raw)
		switch c := raw[0]; {
		case c == '"':
			var s string
			if json.Unmarshal(raw, &s) == nil {
				out = append(out, PropValue{Key: k, Value: string(propString) + s})
			}
		case c == 't' || c == 'f':
			out = append(out, PropValue{Key: k, Value: string(propBool) + string(raw)})
		case c == '-' || (c >= '0' && c <= '9'):
			if canon, ok := CanonicalNumber(string(raw)); ok {
				out = append(out, PropValue{Key: k, Value: string(propNumber) + canon})
			}
		}
	}
	return out
}

func FuzzEventProps(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"plan": "pro", "n": 5}`, `{"a": 1, "a": null}`, `{"a\u00e9": "\ud83d\ude00"}`,
		`{"a": "\xff"}`, "{\"\xff\": 1}", `{"a": [1, {"b": 2}], "c": -0.0e+1}`, `{"a": 1}x`,
		`{"x": "\ud800"}`, `  {"k" : true , "k2":false}  `, `{"e": 5e0000000000, "z": 0e99999999999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := sortedProps(EventProps(b)), sortedProps(decodedProps(b))
		if !slices.Equal(got, want) {
			t.Fatalf("EventProps(%q) = %q, encoding/json gives %q", b, got, want)
		}
		// PropValueOf, one key at a time, says the same: for every key
		// the object has (scalar or not) and for one it has not.
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		keys := []string{"absent"}
		for k := range m {
			keys = append(keys, k)
		}
		for _, k := range keys {
			v, ok := PropValueOf(b, k)
			i := slices.IndexFunc(want, func(p PropValue) bool { return p.Key == k })
			if ok != (i >= 0) || (ok && v != want[i].Value) {
				t.Fatalf("PropValueOf(%q, %q) = %q, %t; encoding/json gives %q", b, k, v, ok, want)
			}
		}
	})
}
