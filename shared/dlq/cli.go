// Package dlq is the command behind scripts/dlq: it lists, shows, replays
// and purges the messages consume-batch moved to the dead-letter stream
// (NATS_DLQ_STREAM). It reads the same NATS_* settings as the functions.
package dlq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
)

// Config is the tool's environment: the NATS part of the functions'.
type Config struct {
	config.NATS
}

// Validate checks the NATS settings.
func (c Config) Validate() error { return c.NATS.Validate() }

// timeout bounds one command.
const timeout = 60 * time.Second

const usage = `usage: scripts/dlq COMMAND
  list [-after SEQ] [-limit N] [-json]   dead letters, oldest first (-json: one JSON array)
  show [-json] SEQ                       one dead letter: origin, error, headers, body
  replay SEQ... | replay -all            publish back to the events stream, then remove
  purge [-yes] SEQ... | purge [-yes] -all
                                         remove for good, after asking (-yes: without)
Settings come from NATS_URL, NATS_STREAM, NATS_SUBJECT, NATS_DLQ_STREAM, NATS_DLQ_SUBJECT.
`

// Main runs the tool with args (without the program name) and returns the
// exit code: 0 done, 1 failed or not confirmed, 2 bad usage. A purge asks
// on stderr and reads the answer from stdin.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var cfg Config
	if code, ok := config.LoadTool("dlq", usage, args, &cfg, stderr); !ok {
		return code
	}
	return RunWithInput(ctx, cfg.NATS, args, stdin, stdout, stderr)
}

// Run is Main with the NATS settings given instead of read from the
// environment, and nobody to answer: a purge without -yes purges nothing.
func Run(ctx context.Context, cfg config.NATS, args []string, stdout, stderr io.Writer) int {
	return RunWithInput(ctx, cfg, args, strings.NewReader(""), stdout, stderr)
}

// RunWithInput is Run with stdin holding what the operator types.
func RunWithInput(ctx context.Context, cfg config.NATS, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := bus.Connect(cfg, "dlq", slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		fmt.Fprintf(stderr, "dlq: %v\n", err)
		return 1
	}
	defer b.Close()
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "list":
		err = list(ctx, b, rest, stdout)
	case "show":
		err = show(ctx, b, rest, stdout)
	case "replay":
		err = replay(ctx, b, rest, stdout)
	case "purge":
		err = purge(ctx, b, rest, stdin, stdout, stderr)
	default:
		err = usageError("unknown command " + strconv.Quote(cmd))
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errNotConfirmed):
		fmt.Fprintf(stderr, "dlq: %v\n", err)
		return 1
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "dlq: %v\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "dlq: %v\n", err)
		return 1
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func list(ctx context.Context, b *bus.Bus, args []string, out io.Writer) error {
	fs := newFlags("list")
	after := fs.Uint64("after", 0, "list dead letters with a sequence above this")
	limit := fs.Int("limit", 100, "at most this many")
	asJSON := fs.Bool("json", false, "one JSON array")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *limit < 1 {
		return usageError("list takes -after SEQ, -limit N (at least 1), -json")
	}
	letters, err := b.DeadLetters(ctx, *after, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		// One array, [] when there are none: a program reading it needs
		// no special case for an empty dead-letter stream.
		all := make([]letterJSON, len(letters))
		for i, dl := range letters {
			all[i] = toJSON(dl)
		}
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tDEAD-LETTERED\tSUBJECT\tSTREAM-SEQ\tDELIVERIES\tERROR")
	for _, dl := range letters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", dl.Sequence, dl.Time.UTC().Format(time.RFC3339),
			dl.Subject, dl.StreamSequence, dl.Deliveries, shorten(dl.Error, 100))
	}
	return tw.Flush()
}

func show(ctx context.Context, b *bus.Bus, args []string, out io.Writer) error {
	fs := newFlags("show")
	asJSON := fs.Bool("json", false, "as one JSON object")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return usageError("show takes one sequence number")
	}
	seq, err := strconv.ParseUint(fs.Arg(0), 10, 64)
	if err != nil {
		return usageError("show: " + strconv.Quote(fs.Arg(0)) + " is not a sequence number")
	}
	dl, err := b.DeadLetterAt(ctx, seq)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(toJSON(dl))
	}
	fmt.Fprintf(out, "sequence:       %d\n", dl.Sequence)
	fmt.Fprintf(out, "dead-lettered:  %s\n", dl.Time.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(out, "subject:        %s\n", dl.Subject)
	fmt.Fprintf(out, "from:           %s #%d\n", dl.Stream, dl.StreamSequence)
	fmt.Fprintf(out, "deliveries:     %d\n", dl.Deliveries)
	fmt.Fprintf(out, "error:          %s\n", dl.Error)
	fmt.Fprintln(out, "headers:")
	for _, k := range slices.Sorted(maps.Keys(dl.Header)) {
		for _, v := range dl.Header[k] {
			fmt.Fprintf(out, "  %s: %s\n", k, v)
		}
	}
	j := toJSON(dl)
	if j.DataBase64 != "" {
		fmt.Fprintf(out, "body (base64):\n%s\n", j.DataBase64)
	} else {
		fmt.Fprintf(out, "body:\n%s\n", j.Data)
	}
	return nil
}

func replay(ctx context.Context, b *bus.Bus, args []string, out io.Writer) error {
	fs := newFlags("replay")
	all := fs.Bool("all", false, "replay every dead letter")
	if err := fs.Parse(args); err != nil || (*all == (fs.NArg() > 0)) {
		return usageError("replay takes sequence numbers, or -all")
	}
	var seqs []uint64
	for _, a := range fs.Args() {
		seq, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return usageError("replay: " + strconv.Quote(a) + " is not a sequence number")
		}
		seqs = append(seqs, seq)
	}
	if *all {
		letters, err := allLetters(ctx, b)
		if err != nil {
			return err
		}
		for _, dl := range letters {
			seqs = append(seqs, dl.Sequence)
		}
	}
	for _, seq := range seqs {
		to, err := b.Replay(ctx, seq)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "replayed %d as %s #%d\n", seq, b.Config().Stream, to)
	}
	return nil
}

// allLetters lists every dead letter, oldest first.
func allLetters(ctx context.Context, b *bus.Bus) ([]bus.DeadLetter, error) {
	var out []bus.DeadLetter
	var after uint64
	for {
		page, err := b.DeadLetters(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return out, nil
		}
		out = append(out, page...)
		after = page[len(page)-1].Sequence
	}
}

// letterJSON is a dead letter as the tool prints it in JSON.
type letterJSON struct {
	Sequence       uint64              `json:"sequence"`
	Time           time.Time           `json:"time"`
	Subject        string              `json:"subject"`
	Stream         string              `json:"stream"`
	StreamSequence uint64              `json:"stream_sequence"`
	Deliveries     int                 `json:"deliveries"`
	Error          string              `json:"error"`
	Header         map[string][]string `json:"header"`
	// Data is the body when it is UTF-8 text; DataBase64 otherwise.
	Data       string `json:"data,omitempty"`
	DataBase64 string `json:"data_base64,omitempty"`
}

func toJSON(dl bus.DeadLetter) letterJSON {
	j := letterJSON{
		Sequence: dl.Sequence, Time: dl.Time.UTC(), Subject: dl.Subject, Stream: dl.Stream,
		StreamSequence: dl.StreamSequence, Deliveries: dl.Deliveries, Error: dl.Error, Header: dl.Header,
	}
	if utf8.Valid(dl.Data) {
		j.Data = string(dl.Data)
	} else {
		j.DataBase64 = base64.StdEncoding.EncodeToString(dl.Data)
	}
	return j
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
