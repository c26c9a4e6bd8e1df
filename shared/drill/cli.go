package drill

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

const usage = `usage: scripts/drill [flags]
Runs the fault drill on PostgreSQL, Redis and NATS of its own (loopback
ports, a temporary directory): one NATS server, then a three-node cluster.
Exits 1 when an event answered 2xx is lost or stored twice, a stats answer
differs from the client's own count, or the system does not recover.
`

// Main runs the drill command with args (without the program name) and
// returns the exit code: 0 passed, 1 failed, 2 bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	variant := fs.String("variant", "both", "one (one NATS server), cluster (three) or both")
	events := fs.Int("events", 200000, "least events sent per variant")
	rate := fs.Int("rate", 500, "events per second the client offers (keep it well under what consume-batch stores, so a backlog drains)")
	batch := fs.Int("batch", 100, "events per request in the batch modes")
	ackWait := fs.Duration("ack-wait", 5*time.Second, "consume-batch's ACK_WAIT")
	short := fs.Bool("short", false, "the short waits of make test's drill")
	faults := fs.String("faults", "", "comma-separated faults to inject, in order (default: every fault of the variant)")
	noReplica := fs.Bool("no-replica", false, "no streaming replica for the stats")
	keepFailed := fs.Bool("keep-failed", true, "keep a failed run's data and logs")
	keep := fs.Bool("keep", false, "keep every run's data and logs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || (*variant != "one" && *variant != "cluster" && *variant != "both") {
		fs.Usage()
		return 2
	}
	var list []string
	if *faults != "" {
		list = strings.Split(*faults, ",")
	}
	if err := checkFaults(list); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cwd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, "drill:", err)
		return 1
	}
	root, err := ModuleRoot(cwd)
	if err != nil {
		fmt.Fprintln(stderr, "drill:", err)
		return 1
	}
	bin, err := os.MkdirTemp("", "eventfn-drill-bin-")
	if err != nil {
		fmt.Fprintln(stderr, "drill:", err)
		return 1
	}
	defer os.RemoveAll(bin)
	log.Info("building the functions and nats-server", "dir", bin)
	if err := Build(ctx, root, bin); err != nil {
		fmt.Fprintln(stderr, "drill:", err)
		return 1
	}
	code := 0
	for _, cluster := range []bool{false, true} {
		if (cluster && *variant == "one") || (!cluster && *variant == "cluster") {
			continue
		}
		rep, err := Run(ctx, Options{
			Cluster: cluster, Faults: list, Events: *events, Rate: *rate, Batch: *batch, Short: *short,
			Replica: !cluster && !*noReplica, AckWait: *ackWait, Root: root, BinDir: bin,
			KeepFailed: *keepFailed, Keep: *keep, Log: log,
		})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		rep.Write(stdout)
		if !rep.OK() {
			code = 1
		}
		if ctx.Err() != nil {
			return 1
		}
	}
	return code
}
