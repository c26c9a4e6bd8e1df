package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// Record is one event in the form it is stored: the columns of the events
// table. Ingest makes it once, from the event it validated; the stream
// carries it (EncodeRecords) and consume-batch writes it as it is, with no
// CloudEvents decoding on the write path.
type Record struct {
	Project, Source, ID, Type string
	// Subject, DataContentType and DataSchema are "" when absent (stored
	// as NULL).
	Subject, DataContentType, DataSchema string
	Time, ReceivedAt                     time.Time
	// Props is the data when it is a JSON object (the filterable
	// properties); Data is any other data, as bytes. At most one is set.
	Props, Data []byte
	// Extensions is the JSON object of the extension attributes ("{}" when
	// there are none).
	Extensions []byte
}

// emptyObject is the extensions of an event that has none.
var emptyObject = []byte("{}")

// ToRecord returns e in its stored form. Its error means the event can
// never be stored (extensions that cannot be encoded).
func ToRecord(e *Event) (Record, error) {
	ce := &e.CE
	r := Record{
		Project: e.Project, Source: ce.Source(), ID: ce.ID(), Type: ce.Type(),
		Subject: ce.Subject(), DataContentType: ce.DataContentType(), DataSchema: ce.DataSchema(),
		Time: ce.Time().UTC(), ReceivedAt: e.ReceivedAt.UTC(),
		Extensions: emptyObject,
	}
	if d := ce.Data(); len(d) > 0 {
		if HasJSONData(ce) && IsProperties(d) {
			r.Props = d
		} else {
			r.Data = d
		}
	}
	if exts := ce.Extensions(); len(exts) > 0 {
		ext, err := json.Marshal(exts)
		if err != nil {
			return Record{}, Wrap(CodeInvalid, err, fmt.Sprintf("event %q: extensions cannot be encoded", ce.ID()))
		}
		r.Extensions = ext
	}
	return r, nil
}

// IdentityKey returns the record's identity key (see IdentityKey).
func (r *Record) IdentityKey() string { return IdentityKey(r.Project, r.Source, r.ID) }

// StructuredJSON returns r as a structured-mode CloudEvent that decodes
// back to the same record: a dead-lettered event is kept this way, readable
// by a person and storable again once replayed. Data other than properties
// travels as data_base64, so its bytes come back exactly.
func (r *Record) StructuredJSON() ([]byte, error) {
	m := map[string]any{}
	if len(r.Extensions) > 0 {
		if err := json.Unmarshal(r.Extensions, &m); err != nil {
			return nil, fmt.Errorf("event %q: extensions: %w", r.ID, err)
		}
	}
	m["specversion"] = "1.0"
	m["id"], m["source"], m["type"] = r.ID, r.Source, r.Type
	m["time"] = r.Time.UTC().Format(time.RFC3339Nano)
	for k, v := range map[string]string{"subject": r.Subject, "datacontenttype": r.DataContentType, "dataschema": r.DataSchema} {
		if v != "" {
			m[k] = v
		}
	}
	switch {
	case r.Props != nil:
		m["data"] = json.RawMessage(r.Props)
	case r.Data != nil:
		m["data_base64"] = r.Data
	}
	return json.Marshal(m)
}
