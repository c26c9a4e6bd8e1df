package event

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cloudevents/sdk-go/v2/binding"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Mode is how an ingest request body carries its events (contract §4).
type Mode int

// The four body modes.
const (
	ModeBinary Mode = iota + 1
	ModeStructured
	ModeBatch
	ModeSimple
)

func (m Mode) String() string {
	switch m {
	case ModeBinary:
		return "binary"
	case ModeStructured:
		return "structured"
	case ModeBatch:
		return "batch"
	case ModeSimple:
		return "simple"
	}
	return "unknown"
}

// Media types that select a mode.
const (
	MediaStructured = "application/cloudevents+json"
	MediaBatch      = "application/cloudevents-batch+json"
	MediaJSON       = "application/json"
)

// DefaultSimpleSource is the source of simple-JSON events that name none.
const DefaultSimpleSource = "simple"

// DetectMode tells the body mode from the request headers. A cloudevents
// media type means structured or batch mode, as CloudEvents' HTTP binding
// says; otherwise any ce-* header means binary mode, so a binary request
// missing ce-specversion is rejected for that instead of being read as
// simple JSON. It returns an *Error with CodeUnsupportedMedia when no mode
// matches.
func DetectMode(h http.Header) (Mode, error) {
	ct := h.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	// CloudEvents' HTTP binding: a cloudevents media type means structured
	// or batch mode, whatever ce- headers come with it.
	switch {
	case err == nil && mt == MediaStructured:
		return ModeStructured, nil
	case err == nil && mt == MediaBatch:
		return ModeBatch, nil
	case err == nil && strings.HasPrefix(mt, "application/cloudevents"):
		return 0, Errorf(CodeUnsupportedMedia, "unsupported event format %q: send %s or %s", ct, MediaStructured, MediaBatch)
	}
	for k := range h {
		if len(k) > 3 && strings.EqualFold(k[:3], "ce-") {
			return ModeBinary, nil
		}
	}
	if err != nil && ct != "" {
		return 0, Errorf(CodeUnsupportedMedia, "unsupported content type %q", ct)
	}
	if mt == MediaJSON {
		return ModeSimple, nil
	}
	return 0, Errorf(CodeUnsupportedMedia,
		"unsupported content type %q: send binary mode (ce-* headers), %s, %s or %s", ct, MediaStructured, MediaBatch, MediaJSON)
}

// Rejection names one event of a request that was not taken, by its index
// in the request and its id as far as it could be read, and why; it is
// shown to the client as is.
type Rejection struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	Error string `json:"error"`
}

// Item is one event of a request as decoded: either an event or the reason
// it could not be read. Size is its encoded size as received.
type Item struct {
	Event *cloudevents.Event
	// JSON is the event as the structured CloudEvent it was received as
	// (structured and batch modes), which DecodeJSON reads back into
	// Event; nil otherwise.
	JSON []byte
	Size int
	// ID is the event id as far as it could be read, for error reports.
	ID  string
	Err error
}

// Decode reads every event of body in the given mode. A body that cannot be
// read at all returns an *Error with CodeInvalid; an event that cannot be read
// is an Item with Err set, so that each event is judged on its own. Decode
// does not validate; see Validate.
func Decode(mode Mode, h http.Header, body []byte) ([]Item, error) {
	switch mode {
	case ModeBinary:
		return decodeBinary(h, body)
	case ModeStructured:
		return decodeStructured(body)
	case ModeBatch:
		return decodeBatch(body)
	case ModeSimple:
		return decodeSimple(body)
	}
	return nil, Errorf(CodeUnsupportedMedia, "unsupported body mode")
}

func decodeBinary(h http.Header, body []byte) ([]Item, error) {
	if h.Get("Ce-Specversion") == "" {
		return nil, Errorf(CodeInvalid, "binary mode needs a ce-specversion header")
	}
	size := len(body)
	for k, vs := range h {
		if len(k) > 3 && strings.EqualFold(k[:3], "ce-") {
			for _, v := range vs {
				size += len(k) + len(v)
			}
		}
	}
	h = percentDecoded(h)
	if _, ok := h["Ce-Data"]; ok {
		// The SDK would take the header for the data and drop the body.
		return []Item{{Size: size, ID: h.Get("Ce-Id"), Err: Errorf(CodeInvalid, "ce-data is not an attribute: in binary mode the data is the request body")}}, nil
	}
	if v := h.Get("Ce-Dataschema"); v != "" {
		if err := checkDataSchema(v); err != nil {
			return []Item{{Size: size, ID: h.Get("Ce-Id"), Err: err}}, nil
		}
	}
	if ct := h.Get("Content-Type"); lowerMediaType(ct) != ct {
		h = h.Clone()
		h.Set("Content-Type", lowerMediaType(ct))
	}
	// An empty time is an absent one, as in the other modes.
	if _, ok := h["Ce-Time"]; ok && h.Get("Ce-Time") == "" {
		h = h.Clone()
		h.Del("Ce-Time")
	}
	// A lower case t or z, which RFC 3339 allows, Go's parser (and so the
	// SDK) refuses: such a time is read upper-cased.
	if v := h.Get("Ce-Time"); strings.ContainsAny(v, "tz") {
		if up, ok := upperTime(v); ok {
			h = h.Clone()
			h.Set("Ce-Time", up)
		}
	}
	msg := cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body)))
	ev, err := binding.ToEvent(context.Background(), msg)
	if err != nil {
		return []Item{{Size: size, ID: h.Get("Ce-Id"), Err: Errorf(CodeInvalid, "cannot read binary event: %s", sdkMessage(err))}}, nil
	}
	if ec, ok := ev.Context.(*cloudevents.EventContextV1); ok && ec.Time == nil {
		// The SDK takes the zero time for "absent"; a time that was sent
		// is kept whatever it is.
		if t, err := types.ParseTime(h.Get("Ce-Time")); err == nil {
			ec.Time = &types.Timestamp{Time: t}
		}
	}
	tidyJSONData(ev)
	return []Item{{Event: ev, Size: size, ID: ev.ID()}}, nil
}

func decodeStructured(body []byte) ([]Item, error) {
	obj, err := wholeObject(body, "body must be one JSON object (a structured CloudEvent)")
	if err != nil {
		return nil, err
	}
	return []Item{decodeOne(obj)}, nil
}

// wholeObject returns the JSON object that is the whole body, want saying
// what the body must be when it is not. A second value after the object
// would be dropped without a word, so anything but whitespace is refused.
func wholeObject(body []byte, want string) ([]byte, error) {
	start := skipWS(body, 0)
	if start >= len(body) || body[start] != '{' {
		return nil, Errorf(CodeInvalid, "%s", want)
	}
	s := plainScanner(body)
	end, err := s.value(start, 1)
	if err == nil {
		err = s.trailing(end)
	}
	if err != nil {
		return nil, Errorf(CodeInvalid, "%s; it %s", want, err)
	}
	return body[start:end], nil
}

func decodeBatch(body []byte) ([]Item, error) {
	const want = "body must be a JSON array of CloudEvents"
	start := skipWS(body, 0)
	if start >= len(body) || body[start] != '[' {
		return nil, Errorf(CodeInvalid, want)
	}
	// One pass splits the array into its elements and checks the syntax
	// of the whole body; each element is then read once by the SDK.
	s := plainScanner(body)
	var raws [][]byte
	end, err := s.eachElement(start, func(elem []byte) { raws = append(raws, elem) })
	if err == nil {
		err = s.trailing(end)
	}
	if err != nil {
		return nil, Errorf(CodeInvalid, "%s; it %s", want, err)
	}
	items := make([]Item, len(raws))
	for i, raw := range raws {
		items[i] = decodeOne(raw)
	}
	return items, nil
}

// decodeOne reads one structured event, raw being JSON that a plain scan
// accepted.
func decodeOne(raw []byte) Item {
	it := Item{Size: len(raw)}
	if raw[0] != '{' {
		it.Err = Errorf(CodeInvalid, "event must be a JSON object")
		return it
	}
	m, err := checkMembers(raw)
	if it.ID, it.Err = m.id, err; it.Err != nil {
		return it
	}
	ev := cloudevents.New()
	var data []byte
	if m.data != nil && m.data[0] != '"' && !sdkReadsJSON(m.contentType) && IsJSONContentType(m.contentType) {
		// The SDK reads data as a JSON value only for the media types it
		// lists, and refuses any other value but a string; CloudEvents and
		// this project take every JSON type (+json) as JSON. The SDK gets
		// the event without its data, which is then put back as it came.
		data = m.data
		start := cap(raw) - cap(data)
		m.edits = append(m.edits, sdkEdit{start: start, end: start + len(data), with: []byte("null")})
	}
	// raw itself stays as it came: it is published as received.
	sdkRaw := raw
	if len(m.edits) > 0 {
		sdkRaw = applyEdits(raw, m.edits)
	}
	if err := ev.UnmarshalJSON(sdkRaw); err != nil {
		it.Err = Errorf(CodeInvalid, "cannot read event: %s", sdkMessage(err))
		// The SDK's reader names no number it cannot hold (1e309): say
		// what binary mode says of the same data.
		if m.data != nil {
			if je, ok := dataScanner(m.data).whole().(*jsonError); ok {
				it.Err = Errorf(CodeInvalid, "%s", je.about("data"))
			}
		}
		return it
	}
	if data != nil {
		ev.DataEncoded = data
	}
	tidyJSONData(&ev)
	it.Event, it.ID, it.JSON = &ev, ev.ID(), raw
	return it
}

// percentDecoded returns h with each ce-* value percent-decoded once, as
// CloudEvents' HTTP binding (3.1.3.2) has receivers do: conformant senders
// encode space, '"', '%' and everything outside printable ASCII, so
// "J%C3%BCrgen" is the subject "Jürgen" that structured mode gets as it
// is. Some SDKs (Go's, Java's) send values unencoded; a value that is no
// valid encoding ("100%", "%zz") is therefore taken as sent. Validate
// refuses what decodes to invalid UTF-8 or NUL. h itself is left alone.
func percentDecoded(h http.Header) http.Header {
	out, cloned := h, false
	for k, vs := range h {
		if len(k) <= 3 || !strings.EqualFold(k[:3], "ce-") {
			continue
		}
		for i, v := range vs {
			if strings.IndexByte(v, '%') < 0 {
				continue
			}
			d, err := url.PathUnescape(v)
			if err != nil {
				continue
			}
			if !cloned {
				out, cloned = h.Clone(), true
			}
			out[k][i] = d
		}
	}
	return out
}

// sdkReadsJSON reports whether the CloudEvents SDK reads the data of a
// structured event with this datacontenttype as a JSON value (its list:
// event.isJSON, on the media type).
func sdkReadsJSON(ct string) bool {
	switch ct {
	case "", cloudevents.ApplicationJSON: // nearly every event: no parsing
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case cloudevents.ApplicationJSON, cloudevents.TextJSON, cloudevents.ApplicationCloudEventsJSON, cloudevents.ApplicationCloudEventsBatchJSON:
		return true
	}
	return false
}

// DecodeJSON reads one structured CloudEvent as structured mode does, with
// the same checks and the same tidying of its data: an Item's JSON gives
// its Event back, an absent time aside (Validate sets it).
func DecodeJSON(raw []byte) (*cloudevents.Event, error) {
	items, err := decodeStructured(raw)
	if err != nil {
		return nil, err
	}
	return items[0].Event, items[0].Err
}

// Context attributes of CloudEvents 1.0 whose JSON value is a string.
// The map's values are the names themselves, so that a name looked up by
// its bytes needs no string of its own.
var stringAttributes = map[string]string{
	"specversion": "specversion", "id": "id", "source": "source", "type": "type", "subject": "subject",
	"datacontenttype": "datacontenttype", "dataschema": "dataschema", "time": "time",
}

// checkMembers checks what the SDK would take silently or report badly in
// a structured event, before it reads it: the type of every attribute;
// text that PostgreSQL cannot store (invalid UTF-8, NUL, unpaired
// surrogates); a time or dataschema the SDK would drop or garble; and
// extensions, whose names the SDK lowercases and whose numbers it
// truncates to int32. It returns what decoding needs of the members (the
// id as far as it could be read, for the rejection) and the first fault.
func checkMembers(raw []byte) (m structuredMembers, fault error) {
	specversion := false
	// Keys are compared as bytes: a string per member of every event of a
	// batch was a tenth of decoding.
	_, _ = plainScanner(raw).members(0, func(quoted, val []byte) error {
		rawKey := quoted[1 : len(quoted)-1]
		if bytes.IndexByte(rawKey, '\\') >= 0 {
			rawKey = []byte(unquote(quoted))
		}
		attr, isText := stringAttributes[string(rawKey)]
		var err error
		switch {
		case string(rawKey) == "data":
			// Checked once read, against its datacontenttype (Validate).
			m.data = val
			if isNull(val) {
				m.data = nil
				m.edits = append(m.edits, dropMember(raw, quoted, val))
			}
		case string(rawKey) == "data_base64":
			switch {
			case isNull(val):
				m.edits = append(m.edits, dropMember(raw, quoted, val))
			case val[0] != '"':
				err = Errorf(CodeInvalid, "data_base64 must be a string")
			default:
				m.base64 = true
			}
		case isText:
			key := attr
			if err = checkTextMember(key, val); err != nil {
				break
			}
			// The others are read by the SDK: checking them is enough.
			switch key {
			case "specversion":
				specversion = true
			case "id":
				m.id = unquoteText(val)
			case "source":
				// The SDK would say "cannot parse uri ref" of an empty one.
				if isNull(val) || unquoteText(val) == "" {
					err = Errorf(CodeInvalid, "source is required")
				}
			case "datacontenttype":
				m.contentType = unquoteText(val)
				if isNull(val) {
					m.edits = append(m.edits, dropMember(raw, quoted, val))
				} else if lower := lowerMediaType(m.contentType); lower != m.contentType {
					m.contentType = lower
					quotedLower, _ := json.Marshal(lower)
					start := cap(raw) - cap(val)
					m.edits = append(m.edits, sdkEdit{start: start, end: start + len(val), with: quotedLower})
				}
			case "time":
				if s := unquoteText(val); s != "" {
					if _, perr := types.ParseTime(s); perr != nil {
						if _, ok := upperTime(s); ok && bytes.IndexByte(val, '\\') < 0 {
							start := cap(raw) - cap(val)
							m.edits = append(m.edits, sdkEdit{start: start, end: start + len(val), with: bytes.ToUpper(val)})
						} else {
							err = Errorf(CodeInvalid, "time %q is not an RFC 3339 timestamp", truncate(s, 64))
						}
					}
				}
			case "dataschema":
				if s := unquoteText(val); s != "" {
					err = checkDataSchema(s)
				}
			}
		default:
			err = checkExtension(string(rawKey), val)
		}
		if fault == nil {
			fault = err
		}
		return nil
	})
	if fault == nil && !specversion {
		fault = Errorf(CodeInvalid, "specversion is required")
	}
	if fault == nil && m.base64 && m.data != nil {
		fault = Errorf(CodeInvalid, "data and data_base64 exclude each other: send one of them")
	}
	return m, fault
}

// sdkEdit is a change to a structured event's text before the SDK reads
// it: the bytes [start, end) replaced by with, or, with drop, the member
// there removed.
type sdkEdit struct {
	start, end int
	with       []byte
	drop       bool
}

// dropMember is the edit removing the member of raw with key and val
// (slices of raw).
func dropMember(raw, key, val []byte) sdkEdit {
	return sdkEdit{start: cap(raw) - cap(key), end: cap(raw) - cap(val) + len(val), drop: true}
}

// applyEdits returns a copy of obj, a JSON object, with edits (of distinct
// members) made, commas mended around removed members.
func applyEdits(obj []byte, edits []sdkEdit) []byte {
	out := slices.Clone(obj)
	// From the last: an edit leaves the offsets before it as they were.
	slices.SortFunc(edits, func(a, b sdkEdit) int { return cmp.Compare(b.start, a.start) })
	for _, e := range edits {
		start, end := e.start, e.end
		if !e.drop {
			out = slices.Concat(out[:start], e.with, out[end:])
			continue
		}
		if j := skipWS(out, end); j < len(out) && out[j] == ',' {
			end = j + 1 // and the comma after it
		} else {
			// The last member: the comma before it goes instead.
			for k := start - 1; k >= 0 && out[k] != '{'; k-- {
				if out[k] == ',' {
					start = k
					break
				}
			}
		}
		out = append(out[:start], out[end:]...)
	}
	return out
}

// structuredMembers is what decodeOne needs of a structured event's
// members besides checking them.
type structuredMembers struct {
	id string
	// data is the data member's value as it came (a slice of the event's
	// text), nil when absent or null; contentType is datacontenttype's
	// text; base64 tells a data_base64 string came.
	data        []byte
	contentType string
	base64      bool
	// edits make the text the SDK reads: members it must not see (null
	// where JSON's event format says null is absent and the SDK refuses it,
	// datacontenttype and data_base64, or reads it as data, data over
	// data_base64), and a time it reads only with t and z upper case.
	edits []sdkEdit
}

// upperTime returns s, an RFC 3339 timestamp with a lower case t or z
// (which RFC 3339 allows and Go's parser refuses), in upper case.
func upperTime(s string) (string, bool) {
	up := strings.ToUpper(s)
	if up == s {
		return "", false
	}
	_, err := types.ParseTime(up)
	return up, err == nil
}

// checkDataSchema refuses a dataschema that is not an absolute URI, as
// CloudEvents requires. The SDK would drop one it cannot parse, and the
// event would be stored without it.
func checkDataSchema(s string) error {
	if u, err := url.Parse(s); err != nil || !u.IsAbs() {
		return Errorf(CodeInvalid, "dataschema %q is not an absolute URI", truncate(s, 64))
	}
	return nil
}

func isNull(val []byte) bool { return string(val) == "null" }

// checkTextMember checks a member that must be a string (null counts as
// absent), refusing text that PostgreSQL cannot store.
func checkTextMember(name string, val []byte) error {
	if isNull(val) {
		return nil
	}
	if val[0] != '"' {
		return Errorf(CodeInvalid, "%s must be a string", name)
	}
	if _, err := storableScanner(val).str(0); err != nil {
		return Errorf(CodeInvalid, "%s", err.(*jsonError).about(name))
	}
	return nil
}

// textValue decodes an attribute that must be a string, as checkTextMember
// checks it.
func textValue(name string, val []byte) (string, error) {
	if err := checkTextMember(name, val); err != nil {
		return "", err
	}
	return unquoteText(val), nil
}

// unquoteText returns the text of a member checkTextMember accepted.
func unquoteText(val []byte) string {
	if isNull(val) {
		return ""
	}
	return unquote(val)
}

// checkExtension applies the CloudEvents rules for an extension attribute
// to its JSON member. The name must be lowercase letters and digits: the
// SDK would lowercase MyExt silently, and the event would not be stored as
// it came. The value must be a String, Boolean or Integer (int32); the SDK
// would truncate 2.75 to 2, so any other number is refused rather than
// changed. URI and Timestamp values travel as strings.
func checkExtension(name string, val []byte) error {
	if !ValidAttributeName(name) {
		return Errorf(CodeInvalid, "extension attribute name %q is not valid: CloudEvents attribute names are lowercase letters a-z and digits 0-9", truncate(name, 32))
	}
	switch c := val[0]; {
	case c == '"':
		err := checkTextMember("extension "+name, val)
		return err
	case c == 't' || c == 'f' || c == 'n':
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		if _, ok := int32Value(val); !ok {
			return Errorf(CodeInvalid, "extension %s: %s is not an integer in the int32 range; CloudEvents extension values are strings, booleans or integers (send other numbers as strings)", name, truncate(string(val), 24))
		}
		return nil
	}
	return Errorf(CodeInvalid, "extension %s must be a string, a boolean or an integer, not an object or array", name)
}

// ValidAttributeName reports whether name is a valid CloudEvents
// attribute name: lowercase letters a-z and digits 0-9, at least one.
func ValidAttributeName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// tidyJSONData drops the whitespace around JSON data, as the stream's
// encoding does (so the event accepted is the event stored), and makes
// null data no data: null is JSON's "nothing", and storing the four bytes
// would make the event look as if it had data.
func tidyJSONData(ev *cloudevents.Event) {
	if ev.DataBase64 || !HasJSONData(ev) {
		return
	}
	ev.DataEncoded = bytes.TrimSpace(ev.DataEncoded)
	if isNull(ev.DataEncoded) {
		ev.DataEncoded = nil
	}
}

// sdkMessage makes an SDK error a one-line message for the client: its
// validation errors end every attribute with a newline, and jsoniter's
// errors append a dump of the surrounding input.
func sdkMessage(err error) string {
	var ve cloudevents.ValidationError
	if errors.As(err, &ve) {
		parts := make([]string, 0, len(ve))
		for attr, e := range ve {
			parts = append(parts, attr+": "+e.Error())
		}
		slices.Sort(parts)
		return oneLine(strings.Join(parts, "; "))
	}
	return oneLine(err.Error())
}

func oneLine(msg string) string {
	if i := strings.Index(msg, ", error found in #"); i >= 0 {
		msg = msg[:i]
	}
	return truncate(strings.Join(strings.Fields(msg), " "), 200)
}

func decodeSimple(body []byte) ([]Item, error) {
	obj, err := wholeObject(body, `body must be a JSON object {"events": [...]}`)
	if err != nil {
		return nil, err
	}
	var events []byte
	_ = eachMember(obj, func(key string, val []byte) error {
		if key == "events" {
			events = val
		}
		return nil
	})
	if events == nil || isNull(events) {
		return nil, noEvents(obj)
	}
	if events[0] != '[' {
		return nil, Errorf(CodeInvalid, `"events" must be an array`)
	}
	var items []Item
	_, _ = plainScanner(events).eachElement(0, func(raw []byte) { items = append(items, decodeSimpleOne(raw)) })
	return items, nil
}

// noEvents is the error for a simple-JSON body without an "events" array.
// It names the members the body has instead, so that a typo ("evnts")
// shows at once.
func noEvents(obj []byte) error {
	var others []string
	_ = eachMember(obj, func(key string, _ []byte) error {
		if key != "events" && len(others) < 5 {
			others = append(others, strconv.Quote(truncate(key, 64)))
		}
		return nil
	})
	if len(others) == 0 {
		return Errorf(CodeInvalid, `body has no "events" array`)
	}
	return Errorf(CodeInvalid, `body has no "events" array (it has %s)`, strings.Join(others, ", "))
}

// simpleEvent is the simple-JSON body's event, Segment-like.
type simpleEvent struct {
	EventID, EventType, UserID, Timestamp, Source string
	Properties                                    []byte
}

// simpleMembers are the members a simple-JSON event may have (contract §4).
var simpleMembers = []string{"event_id", "event_type", "user_id", "timestamp", "properties", "source"}

// readSimple reads the members of a simple-JSON event, with the same text
// rules as a CloudEvent's attributes. A member not in simpleMembers is an
// error naming it: a typo such as "userid" must not turn the event into an
// anonymous one without a word.
func readSimple(raw []byte) (se simpleEvent, fault error) {
	_ = eachMember(raw, func(key string, val []byte) error {
		var err error
		switch key {
		case "event_id":
			se.EventID, err = flexID(key, val)
		case "user_id":
			se.UserID, err = flexID(key, val)
		case "event_type":
			se.EventType, err = textValue(key, val)
		case "timestamp":
			se.Timestamp, err = textValue(key, val)
		case "source":
			se.Source, err = textValue(key, val)
		case "properties":
			if !isNull(val) && val[0] != '{' {
				err = Errorf(CodeInvalid, "properties must be a JSON object")
			} else {
				se.Properties = val
			}
		default:
			err = unknownSimpleMember(key)
		}
		if fault == nil {
			fault = err
		}
		return nil
	})
	return se, fault
}

// unknownSimpleMember is the error of a member simple mode does not take,
// with the member it was probably meant to be when only case or
// separators differ ("userId", "UserID", "user-id").
func unknownSimpleMember(key string) error {
	fold := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' || r == '-' || r == ' ' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	hint := ""
	for _, m := range simpleMembers {
		if fold(m) == fold(key) {
			hint = fmt.Sprintf(" (did you mean %q?)", m)
		}
	}
	return Errorf(CodeInvalid, "unknown member %q%s: a simple-mode event takes only %s",
		truncate(key, 64), hint, strings.Join(simpleMembers, ", "))
}

// flexID reads an id that may come as a string or a number, as ids often
// do. A number is taken by its value: 1.5e3 and 1500 are the same id,
// "1500"; a number that is not a whole one is refused, since its text
// would be an identity that another spelling of it does not share.
func flexID(name string, val []byte) (string, error) {
	if c := val[0]; c == '-' || (c >= '0' && c <= '9') {
		s, ok := integerText(val, MaxAttributeBytes)
		if !ok {
			return "", Errorf(CodeInvalid, "%s %s is not an integer of at most %d bytes written out: send ids as strings or integers", name, truncate(string(val), 24), MaxAttributeBytes)
		}
		return s, nil
	}
	if val[0] != '"' && !isNull(val) {
		return "", Errorf(CodeInvalid, "%s must be a string or an integer", name)
	}
	return textValue(name, val)
}

func decodeSimpleOne(raw []byte) Item {
	it := Item{Size: len(raw)}
	if raw[0] != '{' {
		it.Err = Errorf(CodeInvalid, "event must be a JSON object")
		return it
	}
	se, err := readSimple(raw)
	it.ID = se.EventID
	if err != nil {
		it.Err = err
		return it
	}
	if se.EventID == "" {
		it.Err = Errorf(CodeInvalid, "event_id is required")
		return it
	}
	if se.EventType == "" {
		it.Err = Errorf(CodeInvalid, "event_type is required")
		return it
	}
	ev := cloudevents.New()
	// Set as sent, as structured mode reads them: the SDK's setters trim
	// spaces, which would make " a" and "a" one id here and two there.
	ec := ev.Context.(*cloudevents.EventContextV1)
	ec.ID, ec.Type = se.EventID, se.EventType
	source := se.Source
	if source == "" {
		source = DefaultSimpleSource
	}
	if err := ev.Context.SetSource(source); err != nil {
		it.Err = Errorf(CodeInvalid, "source %q is not a URI reference", truncate(source, 64))
		return it
	}
	if se.UserID != "" {
		ec.Subject = &se.UserID
	}
	if se.Timestamp != "" {
		t, err := parseTimestamp(se.Timestamp)
		if err != nil {
			it.Err = Errorf(CodeInvalid, "timestamp %q is not RFC 3339", truncate(se.Timestamp, 64))
			return it
		}
		// SetTime takes the zero time for "absent"; a time that was sent
		// is kept whatever it is.
		ec.Time = &types.Timestamp{Time: t}
	}
	if props := se.Properties; len(props) > 0 && !isNull(props) {
		ev.SetDataContentType(MediaJSON)
		ev.DataEncoded = props
	}
	it.Event = &ev
	return it
}

func parseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// RFC 3339 allows a lower case t and z; Go's parser does not.
		if up, ok := upperTime(s); ok {
			return time.Parse(time.RFC3339Nano, up)
		}
	}
	return t, err
}
