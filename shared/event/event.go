package event

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Event is one CloudEvent accepted for a project. CE holds the attributes,
// extensions and data exactly as the client sent them, except that an absent
// time is set to the receive time.
type Event struct {
	Project    string
	CE         cloudevents.Event
	ReceivedAt time.Time
	// JSON, when set, is the structured CloudEvent CE was decoded from
	// (Item.JSON): the stream carries it as it came instead of an encoding
	// of CE, which saves the encoding and keeps what was sent.
	JSON []byte
}

// IdentityKey returns a fixed-length key for the event's identity
// (project, source, id). It is the JetStream message id and the dedup key,
// so the same identity maps to the same key in every process.
func IdentityKey(project, source, id string) string {
	buf := make([]byte, 0, len(project)+len(source)+len(id)+2)
	buf = append(append(append(append(append(buf, project...), 0), source...), 0), id...)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}

// IdentityKey returns the identity key of e; see the package function.
func (e *Event) IdentityKey() string {
	return IdentityKey(e.Project, e.CE.Source(), e.CE.ID())
}

// HasJSONData reports whether the event's data is JSON by its content type:
// absent, application/json, or any +json media type.
func HasJSONData(ce *cloudevents.Event) bool {
	return IsJSONContentType(ce.DataContentType())
}

// IsJSONContentType reports whether a datacontenttype value means JSON data.
// An empty value means JSON, as the contract says.
func IsJSONContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// lowerMediaType returns ct with its type and subtype in lower case and its
// parameters as they came. Media types are case-insensitive, but the
// CloudEvents SDK compares them as written: given application/JSON it
// writes the data as JSON and then cannot read it back.
func lowerMediaType(ct string) string {
	end := strings.IndexByte(ct, ';')
	if end < 0 {
		end = len(ct)
	}
	if lower := strings.ToLower(ct[:end]); lower != ct[:end] {
		return lower + ct[end:]
	}
	return ct
}

// StoredSource returns source as the CloudEvents SDK, which reads it as a
// URI reference, gives it back and so as it is stored: "/ü a" becomes
// "/%C3%BC%20a". Text that is no URI reference is returned as it is (no
// event has it: the SDK refuses it).
func StoredSource(source string) string {
	if u := types.ParseURIRef(source); u != nil {
		return u.String()
	}
	return source
}
