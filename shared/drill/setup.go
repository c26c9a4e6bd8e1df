package drill

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"time"
)

// setUp starts the services and the functions.
func (r *run) setUp(ctx context.Context) error {
	r.bin = r.opts.BinDir
	if r.bin == "" {
		r.bin = r.w.path("bin")
		r.log.Info("building the functions and nats-server")
		if err := Build(ctx, r.opts.Root, r.bin); err != nil {
			return err
		}
	}
	pgb, err := pgBin()
	if err != nil {
		return err
	}
	r.log.Info("starting PostgreSQL", "dir", r.w.dir)
	if r.pg, err = startPrimary(ctx, r.w, pgb); err != nil {
		return err
	}
	if r.opts.Replica {
		r.log.Info("making a streaming replica with pg_basebackup -R")
		if r.replica, err = r.pg.startReplica(ctx); err != nil {
			return err
		}
	}
	if r.redis, err = startRedis(ctx, r.w); err != nil {
		return err
	}
	n := 1
	if r.opts.Cluster {
		n = 3
	}
	r.log.Info("starting nats-server", "servers", n)
	if r.nats, err = startNATS(ctx, r.w, filepath.Join(r.bin, "nats-server"), n); err != nil {
		return err
	}
	if err := r.startFunctions(ctx); err != nil {
		return err
	}
	if r.mon, err = newMonitor(r.nats.URL(), r.names.stream, r.names.consumer, &r.phase); err != nil {
		return err
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	today := time.Now().UTC().Truncate(24 * time.Hour)
	users := 5000
	if r.opts.Short {
		users = 500
	}
	r.set = &eventSet{seed: binary.LittleEndian.Uint64(seed[:]), first: today.AddDate(0, 0, -10), days: 9, users: users}
	var urls []string
	for _, f := range r.ingest {
		urls = append(urls, f.URL())
	}
	r.load = newLoad(r.set, urls, r.names.writeKey, float64(r.opts.Rate), r.opts.Batch, &r.phase)
	return nil
}

// startFunctions runs every function with the environment of its own
// config (README's table): nothing else reaches it.
func (r *run) startFunctions(ctx context.Context) error {
	n := r.names
	replicas := "1"
	if r.opts.Cluster {
		replicas = "3"
	}
	server := map[string]string{"LOG_LEVEL": "info", "SHUTDOWN_TIMEOUT": "5s"}
	natsEnv := map[string]string{"NATS_URL": r.nats.URL(), "NATS_STREAM": n.stream, "NATS_SUBJECT": n.subject,
		"NATS_CONSUMER": n.consumer, "NATS_DLQ_STREAM": n.dlqStream, "NATS_DLQ_SUBJECT": n.dlqSubject, "NATS_REPLICAS": replicas}
	keys := fmt.Sprintf("%s=%s:write,%s=%s:read", n.writeKey, n.project, n.readKey, n.project)
	env := func(parts ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, p := range append([]map[string]string{server}, parts...) {
			for k, v := range p {
				out[k] = v
			}
		}
		return out
	}
	ingestEnv := env(natsEnv, map[string]string{"REDIS_URL": r.redis.URL(), "REDIS_PREFIX": n.prefix, "API_KEYS": keys})
	consumeEnv := env(natsEnv, map[string]string{"DATABASE_URL": r.pg.AppURL(), "ADMIN_KEY": n.adminKey,
		"CONSUME_CONTINUOUS": "true", "CONSUME_PUSH": "false", "ACK_WAIT": r.opts.AckWait.String()})
	statsEnv := env(map[string]string{"DATABASE_URL": r.pg.AppURL(), "API_KEYS": keys})
	start := func(kind, name string, e map[string]string) (*function, error) {
		r.log.Info("starting function", "name", name)
		return startFunction(ctx, r.w, r.bin, kind, name, e)
	}
	for i := range 2 {
		f, err := start("ingest", fmt.Sprintf("ingest-%d", i+1), ingestEnv)
		if err != nil {
			return err
		}
		r.ingest = append(r.ingest, f)
	}
	for i := range 2 {
		f, err := start("consume-batch", fmt.Sprintf("consume-batch-%d", i+1), consumeEnv)
		if err != nil {
			return err
		}
		r.consume = append(r.consume, f)
	}
	for _, kind := range functionBinaries[2:] {
		f, err := start(kind, kind, statsEnv)
		if err != nil {
			return err
		}
		r.stats[kind] = f
	}
	if r.replica != nil {
		e := env(statsEnv, map[string]string{"STATS_DATABASE_URL": r.replica.AppURL()})
		for _, kind := range functionBinaries[2:] {
			f, err := start(kind, kind+"-replica", e)
			if err != nil {
				return err
			}
			r.replicaSet[kind] = f
		}
	}
	return nil
}
