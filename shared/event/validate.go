package event

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// minTime is the earliest time an event may carry: the first day
// PostgreSQL's date type has (it has no year 0), so that the event's daily
// partition can be named and made.
var minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate checks one decoded event against the contract and the limits, and
// sets an absent time to receivedAt. size is the event's encoded size as
// received. The returned error is an *Error with CodeInvalid (or CodeTooLarge
// for the size) whose message names the attribute at fault.
//
// Every event it passes can be stored: PostgreSQL's text columns refuse
// NUL and bytes that are not UTF-8, and its jsonb refuses more (see
// checkProperties). An event accepted and then refused by the database
// would be acknowledged to the client and lost to the dead letters.
func Validate(ce *cloudevents.Event, size int, lim Limits, receivedAt time.Time) error {
	if size > lim.MaxEventBytes {
		return Errorf(CodeTooLarge, "event is %d bytes, over the limit of %d", size, lim.MaxEventBytes)
	}
	if sv := ce.SpecVersion(); sv != cloudevents.CloudEventsVersionV1 {
		return Errorf(CodeInvalid, "specversion must be \"1.0\", got %q", sv)
	}
	for _, a := range []struct{ name, value string }{
		{"id", ce.ID()}, {"source", ce.Source()}, {"type", ce.Type()},
	} {
		if a.value == "" {
			return Errorf(CodeInvalid, "%s is required", a.name)
		}
		if err := checkText(a.name, a.value); err != nil {
			return err
		}
		if len(a.value) > MaxAttributeBytes {
			return Errorf(CodeInvalid, "%s is %d bytes, over the limit of %d", a.name, len(a.value), MaxAttributeBytes)
		}
	}
	for _, a := range []struct{ name, value string }{
		{"subject", ce.Subject()}, {"datacontenttype", ce.DataContentType()}, {"dataschema", ce.DataSchema()},
	} {
		if err := checkText(a.name, a.value); err != nil {
			return err
		}
	}
	if n := len(ce.Subject()); n > MaxSubjectBytes {
		return Errorf(CodeInvalid, "subject is %d bytes, over the limit of %d", n, MaxSubjectBytes)
	}
	if err := checkExtensions(ce.Extensions()); err != nil {
		return err
	}
	if err := checkTime(ce, lim, receivedAt); err != nil {
		return err
	}
	if err := ce.Validate(); err != nil {
		return Errorf(CodeInvalid, "%s", sdkMessage(err))
	}
	if HasJSONData(ce) && len(ce.Data()) > 0 {
		if err := validateJSONData(ce.Data(), lim.MaxPropertyKeyBytes); err != nil {
			return err
		}
	}
	return nil
}

// checkTime sets an absent time to receivedAt and bounds a present one.
// Presence is asked of the context: ce.Time() is the zero time both for
// an absent time and for 0001-01-01T00:00:00Z, which is a time like any
// other past one.
func checkTime(ce *cloudevents.Event, lim Limits, receivedAt time.Time) error {
	ec, ok := ce.Context.(*cloudevents.EventContextV1)
	if !ok {
		return Errorf(CodeInvalid, "specversion must be \"1.0\"")
	}
	if ec.Time == nil {
		ec.Time = &types.Timestamp{Time: receivedAt}
		return nil
	}
	t := ec.Time.Time
	if t.After(receivedAt.Add(lim.MaxFutureSkew)) {
		return Errorf(CodeInvalid, "time %s is more than %s in the future", t.UTC().Format(time.RFC3339), lim.MaxFutureSkew)
	}
	if t.Before(minTime) {
		return Errorf(CodeInvalid, "time %s is before 0001-01-01T00:00:00Z", t.Format(time.RFC3339))
	}
	return nil
}

// checkText refuses text that a PostgreSQL text column cannot hold.
func checkText(name, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return Errorf(CodeInvalid, "%s must not contain NUL characters", name)
	}
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalid, "%s is not valid UTF-8", name)
	}
	return nil
}

// checkExtensions checks extension attributes as read by any mode: names
// as CloudEvents defines them, string values storable as text (they are
// stored in a jsonb column, which refuses NUL).
func checkExtensions(ext map[string]any) error {
	for name, v := range ext {
		if !ValidAttributeName(name) {
			return Errorf(CodeInvalid, "extension attribute name %q is not valid: CloudEvents attribute names are lowercase letters a-z and digits 0-9", truncate(name, 32))
		}
		switch v := v.(type) {
		case string:
			if err := checkText("extension "+name, v); err != nil {
				return err
			}
		case fmt.Stringer:
			if err := checkText("extension "+name, v.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateJSONData checks JSON data: it must be valid JSON that the
// stream can carry (dataScanner); when it is an object it becomes the
// event's properties (checkProperties). Other JSON (a string, an array) is
// kept as bytes, as the contract says of other data, since CloudEvents
// producers legitimately send it.
func validateJSONData(data []byte, maxKey int) error {
	trimmed := bytes.TrimSpace(data)
	if !IsProperties(trimmed) {
		if err := dataScanner(trimmed).whole(); err != nil {
			if je := err.(*jsonError); !strings.HasPrefix(je.Msg, "is not valid JSON") {
				return Errorf(CodeInvalid, "%s", je.about("data"))
			}
			return Errorf(CodeInvalid, "data is not valid JSON although datacontenttype says JSON (absent, it means JSON too)")
		}
		return nil
	}
	return checkProperties(trimmed, maxKey)
}

// checkProperties checks an object that is stored as is in a jsonb
// column. jsonb parses the whole document, at any depth, keys and values
// alike, and refuses what the JSON grammar allows but it cannot hold:
// bytes that are not UTF-8, the \u0000 escape, an unpaired UTF-16
// surrogate escape, a number outside numeric's range, extreme nesting (and
// the stream's reader refuses numbers beyond float64).
// Top-level keys are bounded.
func checkProperties(obj []byte, maxKey int) error {
	// One pass checks the whole document and measures the top-level keys.
	s := storableScanner(obj)
	end, err := s.members(0, func(key, _ []byte) error {
		// A key's length as stored: its quotes aside, and its escapes
		// read, which only a key with a backslash needs.
		if n := len(key) - 2; n > maxKey && (bytes.IndexByte(key, '\\') < 0 || len(unquote(key)) > maxKey) {
			k := unquote(key)
			return Errorf(CodeInvalid, "property key %q is %d bytes, over the limit of %d", truncate(k, 32), len(k), maxKey)
		}
		return nil
	})
	if err == nil {
		err = s.trailing(end)
	}
	if je, ok := err.(*jsonError); ok {
		return Errorf(CodeInvalid, "%s", je.about("data"))
	}
	return err
}

// IsProperties reports whether JSON data is an object, i.e. the event's
// filterable properties.
func IsProperties(data []byte) bool {
	data = bytes.TrimSpace(data)
	return len(data) > 0 && data[0] == '{'
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary, so the message stays valid UTF-8.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s…", s[:n])
}
