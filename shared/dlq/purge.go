package dlq

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/eventfn/eventfn/shared/bus"
	"github.com/eventfn/eventfn/shared/config"
)

// errNotConfirmed ends a purge the operator did not confirm.
var errNotConfirmed = errors.New("not confirmed: nothing purged")

// purge removes dead letters for good: those named, or every one listed
// when it starts (-all; letters dead-lettered meanwhile stay). It shows
// what it will remove and asks first, unless -yes.
func purge(ctx context.Context, b *bus.Bus, args []string, stdin io.Reader, out, stderr io.Writer) error {
	fs := newFlags("purge")
	all := fs.Bool("all", false, "purge every dead letter")
	yes := fs.Bool("yes", false, "do not ask")
	pos, err := parseInterspersed(fs, args)
	if err != nil || (*all == (len(pos) > 0)) {
		return usageError("purge takes sequence numbers, or -all; -yes not to be asked")
	}
	var letters []bus.DeadLetter
	if *all {
		if letters, err = allLetters(ctx, b); err != nil {
			return err
		}
	} else {
		seen := map[uint64]bool{}
		for _, a := range pos {
			seq, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				return usageError("purge: " + strconv.Quote(a) + " is not a sequence number")
			}
			if seen[seq] {
				continue
			}
			seen[seq] = true
			// Looked up first: a sequence that holds no letter is named
			// before anything is removed.
			dl, err := b.DeadLetterAt(ctx, seq)
			if err != nil {
				return err
			}
			letters = append(letters, dl)
		}
	}
	if len(letters) == 0 {
		fmt.Fprintln(out, "no dead letters to purge")
		return nil
	}
	if !*yes {
		if err := confirm(stdin, stderr, letters, b.Config().DLQStream); err != nil {
			return err
		}
	}
	for _, dl := range letters {
		if err := b.DeleteDeadLetter(ctx, dl.Sequence); err != nil {
			return err
		}
		fmt.Fprintf(out, "purged %d\n", dl.Sequence)
	}
	return nil
}

// confirm shows the letters a purge removes and reads the operator's
// answer (config.Confirmed); no yes is errNotConfirmed.
func confirm(stdin io.Reader, stderr io.Writer, letters []bus.DeadLetter, stream string) error {
	const shown = 10
	fmt.Fprintf(stderr, "Purge %d dead letter(s) from %s for good? They cannot be replayed afterwards.\n", len(letters), stream)
	for i, dl := range letters {
		if i == shown {
			fmt.Fprintf(stderr, "  … and %d more\n", len(letters)-shown)
			break
		}
		fmt.Fprintf(stderr, "  %d  %s  %s\n", dl.Sequence, dl.Subject, shorten(dl.Error, 80))
	}
	fmt.Fprint(stderr, "Type yes to purge: ")
	if config.Confirmed(stdin) {
		return nil
	}
	fmt.Fprintln(stderr)
	return errNotConfirmed
}

// parseInterspersed parses fs's flags wherever they stand among the
// positional arguments ("purge 3 4 -yes" as "purge -yes 3 4"), which the
// flag package alone stops reading at the first positional one.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
