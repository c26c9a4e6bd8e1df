package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Partition is one daily partition of events, as eventfn_ensure_partition
// makes them on plain PostgreSQL.
type Partition struct {
	// Name is the table's name, events_pYYYYMMDD.
	Name string
	// Day is the UTC day the partition holds.
	Day time.Time
}

// Conn is what the partition helpers need: a pool, a connection or a
// transaction.
type Conn interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Partitions lists the daily partitions of events, oldest first. It lists
// none when events is not natively partitioned (a TimescaleDB hypertable,
// whose chunks TimescaleDB manages); tables attached under other names are
// left out.
func Partitions(ctx context.Context, q Conn) ([]Partition, error) {
	rows, err := q.Query(ctx, `
		SELECT c.relname
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass
		ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	var out []Partition
	for _, n := range names {
		digits, ok := strings.CutPrefix(n, "events_p")
		if !ok || len(digits) != 8 {
			continue
		}
		d, err := time.Parse("20060102", digits)
		if err != nil {
			continue
		}
		out = append(out, Partition{Name: n, Day: d})
	}
	return out, nil
}

// ErrPartitionsBusy tells that DropEmptyPartitions dropped nothing because
// the events table stayed locked (busy inserts) past its lock timeout.
var ErrPartitionsBusy = errors.New("events table busy: empty partitions left for the next run")

// DropEmptyPartitions drops the daily partitions of days before before that
// hold no row, and returns their names. It re-checks emptiness in one
// transaction holding events' ACCESS EXCLUSIVE lock, so no insert can land
// in a partition between the check and the drop; inserters wait at most
// lockTimeout for it. When the lock is not granted in time it drops nothing
// and returns ErrPartitionsBusy: an empty partition costs little and the
// next call tries again. An insert that later needs a dropped day recreates
// its partition (InsertEvents does).
func DropEmptyPartitions(ctx context.Context, q Conn, before time.Time, lockTimeout time.Duration) ([]string, error) {
	parts, err := Partitions(ctx, q)
	if err != nil {
		return nil, err
	}
	// A cheap look without the lock first, so the lock is taken only when
	// there is something to drop.
	var empty []string
	for _, p := range parts {
		if !p.Day.Before(before) {
			continue
		}
		has, err := hasRows(ctx, q, p.Name)
		if err != nil {
			return nil, err
		}
		if !has {
			empty = append(empty, p.Name)
		}
	}
	if len(empty) == 0 {
		return nil, nil
	}
	var dropped []string
	err = pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", max(lockTimeout.Milliseconds(), 1))); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"); err != nil {
			return err
		}
		for _, name := range empty {
			has, err := hasRows(ctx, tx, name)
			if err != nil {
				return err
			}
			if has {
				continue
			}
			if _, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{name}.Sanitize()); err != nil {
				return fmt.Errorf("drop %s: %w", name, err)
			}
			dropped = append(dropped, name)
		}
		return nil
	})
	if sqlState(err) == "55P03" { // lock_not_available
		return nil, ErrPartitionsBusy
	}
	if err != nil {
		return nil, fmt.Errorf("drop empty partitions: %w", err)
	}
	return dropped, nil
}

func hasRows(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, table string) (bool, error) {
	rows, err := q.Query(ctx, "SELECT EXISTS (SELECT 1 FROM "+pgx.Identifier{table}.Sanitize()+")")
	if err != nil {
		return false, fmt.Errorf("check %s: %w", table, err)
	}
	has, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("check %s: %w", table, err)
	}
	return has, nil
}
