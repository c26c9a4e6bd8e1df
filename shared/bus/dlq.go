package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventfn/eventfn/shared/event"
)

// Headers a dead-lettered message carries besides the original message's
// own headers (all kept, except Nats-Msg-Id, moved to HeaderDLQMsgID).
const (
	// HeaderDLQError is why the message could not be stored (one line).
	HeaderDLQError = "Eventfn-Dlq-Error"
	// HeaderDLQSubject is the subject the message was published to.
	HeaderDLQSubject = "Eventfn-Dlq-Subject"
	// HeaderDLQStream and HeaderDLQSequence locate the original message.
	HeaderDLQStream   = "Eventfn-Dlq-Stream"
	HeaderDLQSequence = "Eventfn-Dlq-Sequence"
	// HeaderDLQDeliveries is how many times it was delivered before.
	HeaderDLQDeliveries = "Eventfn-Dlq-Deliveries"
	// HeaderDLQMsgID is the original Nats-Msg-Id.
	HeaderDLQMsgID = "Eventfn-Dlq-Msg-Id"
)

// maxErrorHeader bounds the error text kept in a header.
const maxErrorHeader = 2048

// ErrNotDeadLetter is returned for a sequence that holds no dead letter.
var ErrNotDeadLetter = errors.New("no dead-lettered message at this sequence")

// DeadLetter is one message of the dead-letter stream.
type DeadLetter struct {
	// Sequence is the message's sequence in the dead-letter stream.
	Sequence uint64
	// Time is when it was dead-lettered.
	Time time.Time
	// Subject, Stream and StreamSequence say where it came from.
	Subject        string
	Stream         string
	StreamSequence uint64
	// Deliveries is how many times it was delivered before it was moved.
	Deliveries int
	// Error is why it could not be stored.
	Error string
	// Header holds the original headers and the Eventfn-Dlq-* ones.
	Header nats.Header
	// Data is the original body.
	Data []byte
}

// DeadLetterMsg publishes a copy of msg, which came from the events
// stream, to the dead-letter stream with cause and its origin in headers,
// and waits for the stream's acknowledgement: the unit for a message whose
// events cannot even be read. Only after it returns nil may msg be
// terminated on the events stream. Moving the same message twice (a crash
// between the two steps) stores it once: the copy's message id is the
// original's stream and sequence. Errors wrap ErrUnavailable.
func (b *Bus) DeadLetterMsg(ctx context.Context, msg jetstream.Msg, cause error) error {
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("dead-letter: metadata: %w", err)
	}
	dm := nats.NewMsg(b.dlqSubject(msg.Subject()))
	dm.Data = msg.Data()
	for k, vs := range msg.Headers() {
		if k == jetstream.MsgIDHeader {
			continue
		}
		dm.Header[k] = append([]string(nil), vs...)
	}
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		dm.Header.Set(HeaderDLQMsgID, id)
	}
	return b.publishDeadLetter(ctx, dm, msg.Subject(), meta, "", cause)
}

// DeadLetterRecord publishes one event of msg, rec, that can never be
// stored, to the dead-letter stream with cause and its origin in headers,
// as a one-event message (RecordMsg) that Replay puts back on the events
// stream; the other events of msg are stored. The dead-letter unit is the
// event, whatever the message carries. Moving it twice stores it once: the
// copy's message id is the original's stream, sequence and the event's
// identity. Errors wrap ErrUnavailable.
func (b *Bus) DeadLetterRecord(ctx context.Context, msg jetstream.Msg, rec *event.Record, cause error) error {
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("dead-letter: metadata: %w", err)
	}
	dm, err := RecordMsg(b.dlqSubject(msg.Subject()), rec)
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	dm.Header.Set(HeaderDLQMsgID, dm.Header.Get(jetstream.MsgIDHeader))
	return b.publishDeadLetter(ctx, dm, msg.Subject(), meta, ":"+rec.IdentityKey(), cause)
}

// publishDeadLetter adds the Eventfn-Dlq-* headers to dm and publishes it
// to the dead-letter stream, under a message id naming the original message
// (and idSuffix, the event within it).
func (b *Bus) publishDeadLetter(ctx context.Context, dm *nats.Msg, subject string, meta *jetstream.MsgMetadata, idSuffix string, cause error) error {
	if err := b.EnsureStreams(ctx); err != nil {
		return err
	}
	dm.Header.Set(HeaderDLQError, oneLine(cause.Error(), maxErrorHeader))
	dm.Header.Set(HeaderDLQSubject, subject)
	dm.Header.Set(HeaderDLQStream, meta.Stream)
	dm.Header.Set(HeaderDLQSequence, strconv.FormatUint(meta.Sequence.Stream, 10))
	dm.Header.Set(HeaderDLQDeliveries, strconv.FormatUint(meta.NumDelivered, 10))
	dm.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s:%d%s", meta.Stream, meta.Sequence.Stream, idSuffix))
	_, err := b.js.PublishMsg(ctx, dm, jetstream.WithExpectStream(b.cfg.DLQStream))
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// The stream went away after this process made it (deleted by
		// hand, say): make it again rather than fail every dead letter
		// until a restart.
		b.forgetStreams()
		if err = b.EnsureStreams(ctx); err == nil {
			_, err = b.js.PublishMsg(ctx, dm, jetstream.WithExpectStream(b.cfg.DLQStream))
		}
	}
	if err != nil {
		return fmt.Errorf("%w: dead-letter publish: %v", ErrUnavailable, err)
	}
	return nil
}

// dlqSubject maps NATS_SUBJECT.<rest> to NATS_DLQ_SUBJECT.<rest>, so the
// dead letters keep the project in their subject.
func (b *Bus) dlqSubject(subject string) string {
	rest, ok := strings.CutPrefix(subject, b.cfg.Subject+".")
	if !ok || rest == "" {
		rest = "unknown"
	}
	return b.cfg.DLQSubject + "." + rest
}

// DeadLetterCount returns how many messages the dead-letter stream holds.
// Errors wrap ErrUnavailable.
func (b *Bus) DeadLetterCount(ctx context.Context) (uint64, error) {
	s, err := b.js.Stream(ctx, b.cfg.DLQStream)
	if err != nil {
		return 0, fmt.Errorf("%w: dead-letter stream %s: %v", ErrUnavailable, b.cfg.DLQStream, err)
	}
	return s.CachedInfo().State.Msgs, nil
}

// DeadLetters lists up to limit dead letters with a sequence above after,
// oldest first. Errors wrap ErrUnavailable.
func (b *Bus) DeadLetters(ctx context.Context, after uint64, limit int) ([]DeadLetter, error) {
	s, err := b.js.Stream(ctx, b.cfg.DLQStream)
	if err != nil {
		return nil, fmt.Errorf("%w: dead-letter stream %s: %v", ErrUnavailable, b.cfg.DLQStream, err)
	}
	var out []DeadLetter
	for seq := after + 1; len(out) < limit; {
		// next_by_subj skips the gaps that replayed (deleted) letters leave.
		raw, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(b.cfg.DLQSubject+".>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: read dead letter after %d: %v", ErrUnavailable, seq-1, err)
		}
		out = append(out, toDeadLetter(raw))
		seq = raw.Sequence + 1
	}
	return out, nil
}

// DeadLetterAt returns the dead letter at seq, or ErrNotDeadLetter.
func (b *Bus) DeadLetterAt(ctx context.Context, seq uint64) (DeadLetter, error) {
	s, err := b.js.Stream(ctx, b.cfg.DLQStream)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("%w: dead-letter stream %s: %v", ErrUnavailable, b.cfg.DLQStream, err)
	}
	raw, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("%w: %d", ErrNotDeadLetter, seq)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("%w: read dead letter %d: %v", ErrUnavailable, seq, err)
	}
	return toDeadLetter(raw), nil
}

// Replay publishes the dead letter at seq back to its original subject on
// the events stream, with its original headers, waits for the stream's
// acknowledgement, then deletes it from the dead-letter stream. It returns
// the new sequence in the events stream. Replaying is safe to repeat: the
// event's identity keeps it stored once. It fails, keeping the letter, when
// the original subject is not one the events stream takes.
func (b *Bus) Replay(ctx context.Context, seq uint64) (uint64, error) {
	dl, err := b.DeadLetterAt(ctx, seq)
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(dl.Subject, b.cfg.Subject+".") {
		return 0, fmt.Errorf("replay %d: original subject %q is not under NATS_SUBJECT %q", seq, dl.Subject, b.cfg.Subject)
	}
	if err := b.EnsureStreams(ctx); err != nil {
		return 0, err
	}
	m := nats.NewMsg(dl.Subject)
	m.Data = dl.Data
	for k, vs := range dl.Header {
		if strings.HasPrefix(k, "Eventfn-Dlq-") || strings.HasPrefix(k, "Nats-") {
			continue
		}
		m.Header[k] = append([]string(nil), vs...)
	}
	// Not the original message id: the original message may still sit in
	// the events stream's duplicate window, which would drop the replay.
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("replay:%s:%d", b.cfg.DLQStream, seq))
	ack, err := b.js.PublishMsg(ctx, m, jetstream.WithExpectStream(b.cfg.Stream))
	if err != nil {
		return 0, fmt.Errorf("%w: replay %d: publish: %v", ErrUnavailable, seq, err)
	}
	s, err := b.js.Stream(ctx, b.cfg.DLQStream)
	if err == nil {
		err = s.DeleteMsg(ctx, seq)
	}
	if err != nil {
		return ack.Sequence, fmt.Errorf("%w: replay %d: republished as %d but not removed from %s: %v",
			ErrUnavailable, seq, ack.Sequence, b.cfg.DLQStream, err)
	}
	return ack.Sequence, nil
}

// DeleteDeadLetter removes the dead letter at seq for good (scripts/dlq
// purge: a letter that should never be stored). Errors, a sequence that
// holds no letter among them, wrap ErrUnavailable: callers that must tell
// the two apart look the letter up first (DeadLetterAt).
func (b *Bus) DeleteDeadLetter(ctx context.Context, seq uint64) error {
	s, err := b.js.Stream(ctx, b.cfg.DLQStream)
	if err == nil {
		err = s.DeleteMsg(ctx, seq)
	}
	if err != nil {
		return fmt.Errorf("%w: delete dead letter %d from %s: %v", ErrUnavailable, seq, b.cfg.DLQStream, err)
	}
	return nil
}

func toDeadLetter(raw *jetstream.RawStreamMsg) DeadLetter {
	h := raw.Header
	if h == nil {
		h = nats.Header{}
	}
	streamSeq, _ := strconv.ParseUint(h.Get(HeaderDLQSequence), 10, 64)
	deliveries, _ := strconv.Atoi(h.Get(HeaderDLQDeliveries))
	return DeadLetter{
		Sequence:       raw.Sequence,
		Time:           raw.Time,
		Subject:        h.Get(HeaderDLQSubject),
		Stream:         h.Get(HeaderDLQStream),
		StreamSequence: streamSeq,
		Deliveries:     deliveries,
		Error:          h.Get(HeaderDLQError),
		Header:         h,
		Data:           raw.Data,
	}
}

// oneLine makes s fit a header value: no line breaks or other control
// characters, at most n bytes.
func oneLine(s string, n int) string {
	// Control characters (a NUL quoted from a broken body, say) would
	// end up raw in scripts/dlq's output; a header holds no line breaks.
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }), " ")
	if len(s) > n {
		s = s[:n]
	}
	return s
}
