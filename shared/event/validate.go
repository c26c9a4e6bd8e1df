package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	jsoniter "github.com/json-iterator/go"
)

// Validate checks one decoded event against the contract and the limits, and
// sets an absent time to receivedAt. size is the event's encoded size as
// received. The returned error is an *Error with CodeInvalid (or CodeTooLarge
// for the size) whose message names the attribute at fault.
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
		if strings.IndexByte(a.value, 0) >= 0 {
			return Errorf(CodeInvalid, "%s must not contain NUL characters", a.name)
		}
		if len(a.value) > MaxAttributeBytes {
			return Errorf(CodeInvalid, "%s is %d bytes, over the limit of %d", a.name, len(a.value), MaxAttributeBytes)
		}
	}
	if strings.IndexByte(ce.Subject(), 0) >= 0 {
		return Errorf(CodeInvalid, "subject must not contain NUL characters")
	}
	if ce.Time().IsZero() {
		ce.SetTime(receivedAt)
	} else if ce.Time().After(receivedAt.Add(lim.MaxFutureSkew)) {
		return Errorf(CodeInvalid, "time %s is more than %s in the future", ce.Time().UTC().Format(time.RFC3339), lim.MaxFutureSkew)
	}
	if err := ce.Validate(); err != nil {
		return Errorf(CodeInvalid, "%v", err)
	}
	if HasJSONData(ce) && len(ce.Data()) > 0 {
		if err := validateProperties(ce.Data(), lim.MaxPropertyKeyBytes); err != nil {
			return err
		}
	}
	return nil
}

// validateProperties checks JSON data: it must be valid JSON; when it is an
// object it becomes the event's properties, whose keys are bounded. Other
// JSON (a string, an array) is kept as bytes, as the contract says of
// other data, since CloudEvents producers legitimately send it.
// properties, with keys no longer than maxKey bytes.
func validateProperties(data []byte, maxKey int) error {
	trimmed := bytes.TrimSpace(data)
	if !IsProperties(trimmed) {
		if !json.Valid(trimmed) {
			return Errorf(CodeInvalid, "data is not valid JSON although datacontenttype says JSON")
		}
		return nil
	}
	// PostgreSQL's jsonb cannot hold a NUL character; accepting one would
	// make an acknowledged event impossible to store.
	if bytes.Contains(trimmed, []byte(`\u0000`)) {
		return Errorf(CodeInvalid, "data must not contain NUL characters (\\u0000)")
	}
	// Walk the top-level keys only; values are checked for validity by the
	// skip but never materialised.
	iter := jsoniter.ConfigFastest.BorrowIterator(trimmed)
	defer jsoniter.ConfigFastest.ReturnIterator(iter)
	var keyErr error
	iter.ReadMapCB(func(it *jsoniter.Iterator, k string) bool {
		if len(k) > maxKey {
			keyErr = Errorf(CodeInvalid, "property key %q is %d bytes, over the limit of %d", truncate(k, 32), len(k), maxKey)
			return false
		}
		it.Skip()
		return it.Error == nil
	})
	if keyErr != nil {
		return keyErr
	}
	if iter.Error != nil || iter.WhatIsNext() != jsoniter.InvalidValue {
		return Errorf(CodeInvalid, "data is not valid JSON")
	}
	if !json.Valid(trimmed) {
		return Errorf(CodeInvalid, "data is not valid JSON")
	}
	return nil
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
	return fmt.Sprintf("%s…", s[:n])
}
