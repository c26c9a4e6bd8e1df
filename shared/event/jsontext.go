package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Nesting bounds. Syntax checks follow encoding/json's bound. JSON data
// gets a bound far inside the limits of what reads it later: jsonb's
// parser, which recurses and gives up at PostgreSQL's stack limit
// (max_stack_depth, 2 MB by default: some ten thousand levels, fewer on
// other builds), and the SDK's reader on the consumer's side, which stops
// at ten thousand levels counted from the stream message, one above the
// data.
const (
	maxSyntaxDepth = 10000
	maxDataDepth   = 1000
)

// PostgreSQL numeric bounds, which jsonb numbers must fit (numeric.c): at
// most 16383 digits after the decimal point as written (trailing zeros
// count), a leading digit no higher than 10^131071, and an exponent
// inside ±(INT_MAX/2).
const (
	pgMaxDscale   = 16383
	pgMaxLead     = 131071
	pgMaxExponent = 1<<30 - 1
)

// jsonError says where and why JSON text is refused. Its message is a
// predicate ("is not valid UTF-8") that the caller prefixes with what was
// checked ("data", "id"), so every message names the attribute at fault.
type jsonError struct {
	Off int
	Msg string
}

func (e *jsonError) Error() string { return e.Msg }

// about returns the client message for what was checked.
func (e *jsonError) about(what string) string { return what + " " + e.Msg }

// scanner walks JSON text without materialising it. Plain, it checks
// syntax as encoding/json does. Finite, it also refuses numbers beyond
// float64, which the SDK's reader (jsoniter) fails on when consume-batch
// reads the event back from the stream. Storable, it also checks what
// PostgreSQL's jsonb input refuses although the JSON grammar allows it:
// bytes that are not UTF-8, the \u0000 escape (22P05), an unpaired UTF-16
// surrogate escape (22P02) and a number outside numeric's range (22003).
type scanner struct {
	b        []byte
	finite   bool
	storable bool
	maxDepth int
}

func plainScanner(b []byte) *scanner { return &scanner{b: b, maxDepth: maxSyntaxDepth} }

// dataScanner checks JSON data of any shape, which the stream carries.
func dataScanner(b []byte) *scanner { return &scanner{b: b, finite: true, maxDepth: maxDataDepth} }

// storableScanner checks text stored in a text or jsonb column: JSON data
// that is an object (the properties), and attribute values.
func storableScanner(b []byte) *scanner {
	return &scanner{b: b, finite: true, storable: true, maxDepth: maxDataDepth}
}

// whole checks that b holds exactly one JSON value and nothing after it
// but whitespace.
func (s *scanner) whole() error {
	end, err := s.value(skipWS(s.b, 0), 1)
	if err != nil {
		return err
	}
	return s.trailing(end)
}

// trailing refuses anything but whitespace from off on: a second value
// after the first would otherwise be dropped without a word.
func (s *scanner) trailing(off int) error {
	if i := skipWS(s.b, off); i < len(s.b) {
		return s.syntax(i, "content after the JSON value")
	}
	return nil
}

func (s *scanner) syntax(off int, what string) *jsonError {
	return &jsonError{Off: off, Msg: fmt.Sprintf("is not valid JSON: %s at offset %d", what, off)}
}

func (s *scanner) unexpected(off int) *jsonError {
	if off >= len(s.b) {
		return s.syntax(off, "unexpected end")
	}
	c := s.b[off]
	if c < 0x20 || c >= 0x7f {
		return s.syntax(off, fmt.Sprintf("unexpected byte 0x%02x", c))
	}
	return s.syntax(off, fmt.Sprintf("unexpected %q", c))
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// value checks the value starting at i (no leading whitespace) and
// returns the offset just after it.
func (s *scanner) value(i, depth int) (int, error) {
	if i >= len(s.b) {
		return i, s.unexpected(i)
	}
	switch c := s.b[i]; {
	case c == '{':
		return s.object(i, depth)
	case c == '[':
		return s.array(i, depth)
	case c == '"':
		return s.str(i)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	}
	return i, s.unexpected(i)
}

func (s *scanner) literal(i int, lit string) (int, error) {
	if len(s.b)-i < len(lit) || string(s.b[i:i+len(lit)]) != lit {
		return i, s.unexpected(i)
	}
	return i + len(lit), nil
}

func (s *scanner) deeper(i, depth int) error {
	if depth > s.maxDepth {
		return &jsonError{Off: i, Msg: fmt.Sprintf("is nested deeper than %d levels", s.maxDepth)}
	}
	return nil
}

func (s *scanner) object(i, depth int) (int, error) {
	if err := s.deeper(i, depth); err != nil {
		return i, err
	}
	i = skipWS(s.b, i+1)
	if i < len(s.b) && s.b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s.b) || s.b[i] != '"' {
			return i, s.unexpected(i)
		}
		end, err := s.str(i)
		if err != nil {
			return end, err
		}
		i = skipWS(s.b, end)
		if i >= len(s.b) || s.b[i] != ':' {
			return i, s.unexpected(i)
		}
		if i, err = s.value(skipWS(s.b, i+1), depth+1); err != nil {
			return i, err
		}
		i = skipWS(s.b, i)
		if i < len(s.b) && s.b[i] == ',' {
			i = skipWS(s.b, i+1)
			continue
		}
		if i < len(s.b) && s.b[i] == '}' {
			return i + 1, nil
		}
		return i, s.unexpected(i)
	}
}

func (s *scanner) array(i, depth int) (int, error) {
	if err := s.deeper(i, depth); err != nil {
		return i, err
	}
	i = skipWS(s.b, i+1)
	if i < len(s.b) && s.b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = s.value(i, depth+1); err != nil {
			return i, err
		}
		i = skipWS(s.b, i)
		if i < len(s.b) && s.b[i] == ',' {
			i = skipWS(s.b, i+1)
			continue
		}
		if i < len(s.b) && s.b[i] == ']' {
			return i + 1, nil
		}
		return i, s.unexpected(i)
	}
}

// str checks the string whose opening quote is at i.
func (s *scanner) str(i int) (int, error) {
	b := s.b
	start := i
	i++
	for {
		// Plain ASCII is by far the common case.
		for i < len(b) && b[i] >= 0x20 && b[i] < 0x80 && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return i, s.syntax(start, "unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			var err error
			if i, err = s.escape(i); err != nil {
				return i, err
			}
		case c < 0x20:
			return i, s.syntax(i, fmt.Sprintf("control character 0x%02x in a string", c))
		case !s.storable:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, &jsonError{Off: i, Msg: fmt.Sprintf("is not valid UTF-8 (byte 0x%02x at offset %d)", c, i)}
			}
			i += size
		}
	}
}

// escape checks the escape sequence whose backslash is at i.
func (s *scanner) escape(i int) (int, error) {
	b := s.b
	if i+1 >= len(b) {
		return i, s.syntax(i, "unterminated string")
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2, nil
	case 'u':
	default:
		return i, s.syntax(i, "invalid escape")
	}
	r, ok := hex4(b, i+2)
	if !ok {
		return i, s.syntax(i, "invalid \\u escape")
	}
	if !s.storable {
		return i + 6, nil
	}
	switch {
	case r == 0:
		return i, &jsonError{Off: i, Msg: `must not contain NUL characters (\u0000)`}
	case r >= 0xd800 && r < 0xdc00:
		// A high surrogate stands only as the first half of a pair.
		if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
			if lo, ok := hex4(b, i+8); ok && lo >= 0xdc00 && lo < 0xe000 {
				return i + 12, nil
			}
		}
		return i, s.surrogate(i)
	case r >= 0xdc00 && r < 0xe000:
		return i, s.surrogate(i)
	}
	return i + 6, nil
}

func (s *scanner) surrogate(i int) *jsonError {
	return &jsonError{Off: i, Msg: fmt.Sprintf(`holds an unpaired UTF-16 surrogate (%s) at offset %d`, s.b[i:i+6], i)}
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// number checks the number starting at i.
func (s *scanner) number(i int) (int, error) {
	b := s.b
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, s.unexpected(i)
	}
	if i < len(b) && b[i] == '.' {
		end := digits(b, i+1)
		if end == i+1 {
			return end, s.unexpected(end)
		}
		i = end
	}
	exp := i < len(b) && (b[i] == 'e' || b[i] == 'E')
	if exp {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		end := digits(b, i)
		if end == i {
			return end, s.unexpected(end)
		}
		i = end
	}
	if (s.finite && !finite(b[start:i], exp)) || (s.storable && !numericFits(b[start:i])) {
		n := string(b[start:i])
		return i, &jsonError{Off: start, Msg: fmt.Sprintf("holds a number that cannot be stored (%s) at offset %d", truncate(n, 24), start)}
	}
	return i, nil
}

// finite reports whether a number parses as a float64: not so large that
// it overflows. Only a number with an exponent, or of hundreds of
// digits, can overflow.
func finite(n []byte, exp bool) bool {
	if !exp && len(n) < 300 {
		return true
	}
	_, err := strconv.ParseFloat(string(n), 64)
	return err == nil
}

// jsonNumber is a JSON number taken apart: its integer and fraction
// digits as written and its exponent, saturated far beyond any bound.
type jsonNumber struct {
	neg       bool
	int, frac string
	exp       int64
}

// parseNumber takes apart a number that the scanner accepted.
func parseNumber(n []byte) jsonNumber {
	var p jsonNumber
	if len(n) > 0 && n[0] == '-' {
		p.neg, n = true, n[1:]
	}
	i := digits(n, 0)
	p.int = string(n[:i])
	if i < len(n) && n[i] == '.' {
		j := digits(n, i+1)
		p.frac = string(n[i+1 : j])
		i = j
	}
	if i < len(n) && (n[i] == 'e' || n[i] == 'E') {
		i++
		neg := false
		if i < len(n) && (n[i] == '+' || n[i] == '-') {
			neg = n[i] == '-'
			i++
		}
		for ; i < len(n); i++ {
			if p.exp < 1<<40 {
				p.exp = p.exp*10 + int64(n[i]-'0')
			}
		}
		if neg {
			p.exp = -p.exp
		}
	}
	return p
}

// lead returns the power of ten of the first non-zero digit, and false
// when the number is zero.
func (p jsonNumber) lead() (int64, bool) {
	for k := 0; k < len(p.int); k++ {
		if p.int[k] != '0' {
			return int64(len(p.int)-1-k) + p.exp, true
		}
	}
	for k := 0; k < len(p.frac); k++ {
		if p.frac[k] != '0' {
			return int64(-(k + 1)) + p.exp, true
		}
	}
	return 0, false
}

// numericFits reports whether PostgreSQL's numeric input, which jsonb
// uses for numbers, accepts n.
func numericFits(n []byte) bool {
	p := parseNumber(n)
	if p.exp >= pgMaxExponent || p.exp <= -pgMaxExponent {
		return false
	}
	if int64(len(p.frac))-p.exp > pgMaxDscale {
		return false
	}
	lead, nonZero := p.lead()
	return !nonZero || lead <= pgMaxLead
}

// integerText returns the canonical decimal text of n when its value is
// a whole number (1.5e3 is "1500", -0 is "0"), and false otherwise or when
// that text would be longer than maxLen.
func integerText(n []byte, maxLen int) (string, bool) {
	p := parseNumber(n)
	lead, nonZero := p.lead()
	if !nonZero {
		return "0", true
	}
	digs := p.int + p.frac
	// Digit k of digs stands for 10^(len(p.int)-1-k+exp); every non-zero
	// one must stand for 10^0 or more.
	point := int64(len(p.int)) + p.exp // digits before the decimal point
	for k := len(digs) - 1; k >= 0 && int64(k) >= point; k-- {
		if digs[k] != '0' {
			return "", false
		}
	}
	if lead+1 > int64(maxLen) {
		return "", false
	}
	var out []byte
	if p.neg {
		out = append(out, '-')
	}
	started := false
	for k := int64(0); k < point; k++ {
		c := byte('0')
		if k < int64(len(digs)) {
			c = digs[k]
		}
		if c == '0' && !started {
			continue
		}
		started = true
		out = append(out, c)
	}
	return string(out), true
}

// int32Value returns the value of n when it is a whole number that fits
// in int32, the CloudEvents Integer type.
func int32Value(n []byte) (int32, bool) {
	text, ok := integerText(n, 11)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(text, 10, 32)
	return int32(v), err == nil
}

// eachMember calls fn with the decoded key and the raw value of every
// member of obj, a JSON object that a plain scan accepted, in order; it
// stops at fn's first error and returns it.
func eachMember(obj []byte, fn func(key string, val []byte) error) error {
	_, err := plainScanner(obj).members(0, func(key, val []byte) error { return fn(unquote(key), val) })
	return err
}

// members calls fn with the key (quoted, as in the text) and the value of
// every member of the object at i, scanning the values by s's rules, and
// returns the offset after the object. An error of fn stops the walk and
// is returned.
func (s *scanner) members(i int, fn func(key, val []byte) error) (int, error) {
	b := s.b
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '{' {
		return i, s.unexpected(i)
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, s.unexpected(i)
		}
		kEnd, err := s.str(i)
		if err != nil {
			return i, err
		}
		key := b[i:kEnd]
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return i, s.unexpected(i)
		}
		vStart := skipWS(b, i+1)
		vEnd, err := s.value(vStart, 2)
		if err != nil {
			return vStart, err
		}
		if err := fn(key, b[vStart:vEnd]); err != nil {
			return vStart, err
		}
		i = skipWS(b, vEnd)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		return i, s.unexpected(i)
	}
}

// eachElement calls fn with the raw bytes of every element of arr, a JSON
// array starting at off in s's text, and returns the offset after it.
// Each element is syntax-checked, so a broken one ends the walk with an
// error.
func (s *scanner) eachElement(off int, fn func(elem []byte)) (int, error) {
	b := s.b
	if off >= len(b) || b[off] != '[' {
		return off, s.unexpected(off)
	}
	i := skipWS(b, off+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := s.value(i, 2)
		if err != nil {
			return end, err
		}
		fn(b[i:end])
		i = skipWS(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		return i, s.unexpected(i)
	}
}

// Members calls fn with the decoded key and the raw value of every member
// of obj, in order, when obj is one JSON object (whitespace around it
// allowed); otherwise it returns the syntax error without calling fn.
func Members(obj []byte, fn func(key string, val []byte)) error {
	if err := plainScanner(obj).whole(); err != nil {
		return err
	}
	if i := skipWS(obj, 0); i >= len(obj) || obj[i] != '{' {
		return plainScanner(obj).unexpected(i)
	}
	return eachMember(obj, func(key string, val []byte) error {
		fn(key, val)
		return nil
	})
}

// LastMember returns the raw value of the last member of obj named key,
// and whether there is one, when obj is one JSON object (whitespace
// around it allowed); otherwise the syntax error. Unlike Members it
// decodes no key that cannot be the one asked for.
func LastMember(obj []byte, key string) (val []byte, found bool, err error) {
	if err := plainScanner(obj).whole(); err != nil {
		return nil, false, err
	}
	if i := skipWS(obj, 0); i >= len(obj) || obj[i] != '{' {
		return nil, false, plainScanner(obj).unexpected(i)
	}
	_, err = plainScanner(obj).members(0, func(k, v []byte) error {
		if keyIs(k, key) {
			val, found = v, true
		}
		return nil
	})
	return val, found, err
}

// keyIs reports whether the quoted key a scan accepted decodes to key:
// a key without escapes in valid UTF-8 is its own text.
func keyIs(quoted []byte, key string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner) == key
	}
	return unquote(quoted) == key
}

// Unquote decodes a JSON string that a scan accepted (quotes included),
// as encoding/json does.
func Unquote(q []byte) string { return unquote(q) }

// unquote decodes a JSON string that a scan accepted, as encoding/json
// does: escapes resolved, bytes that are not UTF-8 replaced by U+FFFD.
func unquote(q []byte) string {
	inner := q[1 : len(q)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(q, &s)
	return s
}
