package rollup

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"

	"github.com/eventfn/eventfn/shared/event"
)

// Property value kinds, the first letter of a canonical value.
const (
	propString = 's'
	propNumber = 'n'
	propBool   = 'b'
)

// PropValue is one top-level scalar property of an event, in canonical
// form: Value is a kind letter (s, n, b) and the value's canonical text.
type PropValue struct {
	Key, Value string
}

// Hash identifies the property value in rollup_props.
func (p PropValue) Hash() []byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	// The key's length first, so that no (key, value) pair can spell another.
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(p.Key)))])
	h.Write([]byte(p.Key))
	h.Write([]byte(p.Value))
	return h.Sum(nil)
}

// EventProps returns the top-level scalar properties (string, number,
// bool) of a JSON object; nested values and nulls are never equal to a
// filter value, so they are left out. A duplicate key keeps its last value,
// as jsonb does. Data that is not a JSON object has no properties.
func EventProps(props []byte) []PropValue {
	if len(props) == 0 {
		return nil
	}
	// Every member counts for "last wins": a later null or object hides
	// an earlier scalar of the same key. ok marks the scalars.
	type member struct {
		p  PropValue
		ok bool
	}
	var members []member
	err := event.Members(props, func(k string, raw []byte) {
		m := member{p: PropValue{Key: k}}
		m.p.Value, m.ok = scalarValue(raw)
		members = append(members, m)
	})
	if err != nil {
		return nil
	}
	out := make([]PropValue, 0, len(members))
	var last map[string]int // key -> index of its last member, for many members
	if len(members) > 16 {
		last = make(map[string]int, len(members))
		for i, m := range members {
			last[m.p.Key] = i
		}
	}
	for i, m := range members {
		if !m.ok {
			continue
		}
		if last != nil {
			if last[m.p.Key] != i {
				continue
			}
		} else if slices.ContainsFunc(members[i+1:], func(n member) bool { return n.p.Key == m.p.Key }) {
			continue
		}
		out = append(out, m.p)
	}
	return out
}

// PropValueOf returns the value of key among EventProps(props), and
// whether it has one, reading only that member: a filter on one key
// needs no other.
func PropValueOf(props []byte, key string) (string, bool) {
	if len(props) == 0 {
		return "", false
	}
	raw, found, err := event.LastMember(props, key)
	if err != nil || !found {
		return "", false
	}
	return scalarValue(raw)
}

// scalarValue returns a member's value as PropValue holds it, and whether
// it is a scalar that can equal a filter value.
func scalarValue(raw []byte) (string, bool) {
	switch c := raw[0]; {
	case c == '"':
		return string(propString) + event.Unquote(raw), true
	case c == 't' || c == 'f':
		return string(propBool) + string(raw), true
	case c == '-' || (c >= '0' && c <= '9'):
		if canon, ok := CanonicalNumber(string(raw)); ok {
			return string(propNumber) + canon, true
		}
	}
	return "", false
}

// FilterValues returns the property values that the filter prop.KEY=VALUE
// matches: data.KEY is the string VALUE; or, when VALUE is a JSON number,
// a number equal to it (so prop.n=5 matches 5, 5.0, 5e0 and "5", but not
// "5.0"); or, when VALUE is true or false, that boolean (and the string).
// An event holds one value per key, so the values are alternatives.
func FilterValues(key, value string) []PropValue {
	out := []PropValue{{Key: key, Value: string(propString) + value}}
	if canon, ok := CanonicalNumber(value); ok {
		out = append(out, PropValue{Key: key, Value: string(propNumber) + canon})
	}
	if value == "true" || value == "false" {
		out = append(out, PropValue{Key: key, Value: string(propBool) + value})
	}
	return out
}

// maxExponent bounds the exponent of a number we canonicalise; jsonb
// cannot hold anything near it, so larger ones never match.
const maxExponent = 1 << 20

// CanonicalNumber returns the canonical text of a JSON number literal
// (RFC 8259 grammar): equal numbers, such as 5, 5.0, 50e-1 and -0 and 0,
// give equal text. It reports false for anything that is not a JSON number.
func CanonicalNumber(s string) (string, bool) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[start:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return "", false
	}
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
		if frac == "" {
			return "", false
		}
	}
	exp := 0
	// hugeExp marks an exponent beyond maxExponent: no such number but
	// zero is storable, and zero is zero whatever its exponent.
	hugeExp := false
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		negExp := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			negExp = s[i] == '-'
			i++
		}
		ds := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if ds == i {
			return "", false
		}
		// Leading zeros are allowed in an exponent and change nothing.
		switch d := strings.TrimLeft(s[ds:i], "0"); {
		case len(d) > 9:
			hugeExp = true
		case d != "":
			e, _ := strconv.Atoi(d)
			hugeExp = e > maxExponent
			if negExp {
				e = -e
			}
			exp = e
		}
	}
	if i != len(s) {
		return "", false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return "0", true
	}
	if hugeExp {
		return "", false
	}
	exp -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + trimmed + "e" + strconv.Itoa(exp), true
}
