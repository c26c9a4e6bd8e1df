package rollup

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

type userKey struct {
	project, subject string
}

// userState is what Apply knows of one user of the batch.
type userState struct {
	uid uint32
	// first is the time of the user's earliest event in the batch.
	first time.Time
	// stored is the user's first_seen before the batch, or a time at or
	// after it (a Memo's), when hasStored; a user new in the batch has
	// none. (Not the zero time as a marker: 0001-01-01T00:00:00Z is a
	// valid event time.)
	stored    time.Time
	hasStored bool
	// inMemo tells that a Memo knew the user, with memoFirst at or after
	// its first_seen.
	inMemo    bool
	memoFirst time.Time
	// quiet users change nothing of their own in this batch
	// (Memo.markQuiet): they are neither read nor updated.
	quiet bool
}

// resolveUsers gives every user of the batch an id and its stored
// first_seen (hasStored) when it had one. Apply holds the rollups' writer
// lock, so the rows stay as read until it commits.
//
// Users a Memo knows are not read at all: their id never changes, and the
// Memo's first event is at or after their first_seen, which is all its
// uses need (updateFirstSeen moves first_seen back only where the batch's
// first is earlier than the row's own; a Memo keeps an upper bound). The
// others are looked up, and the new ones among them added: they take the
// next ids of their project under the lock of its rollup_projects row.
func resolveUsers(ctx context.Context, tx pgx.Tx, users map[userKey]*userState) error {
	var keys []userKey
	for k, u := range users {
		if u.inMemo {
			u.stored, u.hasStored = u.memoFirst, true
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].project != keys[b].project {
			return keys[a].project < keys[b].project
		}
		return keys[a].subject < keys[b].subject
	})
	projects, subjects := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		projects[i], subjects[i] = k.project, k.subject
	}
	rows, err := tx.Query(ctx, `
		SELECT k.p, k.s, u.uid, u.first_seen FROM unnest($1::text[], $2::text[]) AS k(p, s)
		CROSS JOIN LATERAL (SELECT uid, first_seen FROM rollup_users WHERE project = k.p AND subject = k.s LIMIT 1) u`, projects, subjects)
	if err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	var p, s string
	var uid int32
	var firstSeen time.Time
	found := 0
	if _, err := pgx.ForEachRow(rows, []any{&p, &s, &uid, &firstSeen}, func() error {
		u := users[userKey{p, s}]
		u.uid, u.stored, u.hasStored = uint32(uid), firstSeen, true
		found++
		return nil
	}); err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	if found == len(keys) {
		return nil
	}
	missing := map[string][]string{}
	for _, k := range keys {
		if !users[k].hasStored {
			missing[k.project] = append(missing[k.project], k.subject)
		}
	}
	newProjects := make([]string, 0, len(missing))
	for p := range missing {
		newProjects = append(newProjects, p)
	}
	sort.Strings(newProjects)
	for _, project := range newProjects {
		if err := addUsers(ctx, tx, project, missing[project], users); err != nil {
			return err
		}
	}
	return nil
}

// addUsers inserts the project's users, none stored yet, with consecutive
// ids, under the lock of the project's rollup_projects row, and gives them
// their ids. The rows go in by COPY, in the order of subjects (sorted by
// the caller, the primary key's order): several times cheaper than an
// INSERT of as many rows, and a chunk of scattered events holds tens of
// thousands of new users.
func addUsers(ctx context.Context, tx pgx.Tx, project string, subjects []string, users map[userKey]*userState) error {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO rollup_projects (project, next_uid) VALUES ($1, 1)
		ON CONFLICT (project) DO UPDATE SET next_uid = rollup_projects.next_uid`, project)
	b.Queue(`UPDATE rollup_projects SET next_uid = next_uid + $2 WHERE project = $1
		RETURNING next_uid - $2`, project, len(subjects))
	var base int64
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("add users of %s: lock: %w", project, err)
	}
	if err := br.QueryRow().Scan(&base); err != nil {
		_ = br.Close()
		return fmt.Errorf("add users of %s: allocate ids: %w", project, err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("add users of %s: %w", project, err)
	}
	if base+int64(len(subjects)) > math.MaxInt32 {
		return fmt.Errorf("add users of %s: user ids exhausted", project)
	}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(subjects) {
			return nil, nil
		}
		s := subjects[i]
		u := users[userKey{project, s}]
		u.uid = uint32(base) + uint32(i)
		i++
		return []any{project, s, int32(u.uid), u.first}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_users"}, []string{"project", "subject", "uid", "first_seen"}, src); err != nil {
		return fmt.Errorf("add users of %s: %w", project, err)
	}
	return nil
}

// updateFirstSeen moves each user's first_seen back to the batch's
// earliest event when that is earlier than the row's own (stored may be a
// later bound: the statement compares with the row; users resolveUsers
// added have theirs from this batch).
func updateFirstSeen(ctx context.Context, tx pgx.Tx, users map[userKey]*userState) error {
	var projects, subjects []string
	var firsts []time.Time
	for k, u := range users {
		if u.hasStored && u.first.Before(u.stored) {
			projects, subjects, firsts = append(projects, k.project), append(subjects, k.subject), append(firsts, u.first)
		}
	}
	if len(projects) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		UPDATE rollup_users u SET first_seen = k.t
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS k(p, s, t)
		WHERE u.project = k.p AND u.subject = k.s AND k.t < u.first_seen`, projects, subjects, firsts); err != nil {
		return fmt.Errorf("update first seen: %w", err)
	}
	return nil
}
