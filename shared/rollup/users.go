package rollup

import (
	"context"
	"fmt"
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
	// stored is the user's first_seen before the batch, when hasStored;
	// a user new in the batch has none. (Not the zero time as a marker:
	// 0001-01-01T00:00:00Z is a valid event time.)
	stored    time.Time
	hasStored bool
	// inMemo tells that a Memo knew the user, with memoFirst at or after
	// its first_seen.
	inMemo    bool
	memoFirst time.Time
	// quiet users change nothing of their own in this batch
	// (Memo.markQuiet): they are neither locked nor updated.
	quiet bool
}

// resolveUsers gives every user of the batch an id and reads the stored
// first_seen of those that had one. Apply holds the rollups' writer lock,
// so the rows stay as read until it commits.
//
// New users take the next ids of their project under the lock of the
// project's rollup_projects row.
func resolveUsers(ctx context.Context, tx pgx.Tx, users map[userKey]*userState) error {
	keys := make([]userKey, 0, len(users))
	for k := range users {
		keys = append(keys, k)
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
	// Which users are new, without locks. Users a Memo knows are stored
	// (rows are never removed).
	var maybeP, maybeS []string
	for _, k := range keys {
		if !users[k].inMemo {
			maybeP, maybeS = append(maybeP, k.project), append(maybeS, k.subject)
		}
	}
	missing := map[string][]string{}
	var p, s string
	if len(maybeP) > 0 {
		rows, err := tx.Query(ctx, `
			SELECT k.p, k.s FROM unnest($1::text[], $2::text[]) AS k(p, s)
			LEFT JOIN LATERAL (SELECT 1 AS found FROM rollup_users u WHERE u.project = k.p AND u.subject = k.s LIMIT 1) u ON true
			WHERE u.found IS NULL`, maybeP, maybeS)
		if err != nil {
			return fmt.Errorf("find new users: %w", err)
		}
		if _, err := pgx.ForEachRow(rows, []any{&p, &s}, func() error {
			missing[p] = append(missing[p], s)
			return nil
		}); err != nil {
			return fmt.Errorf("find new users: %w", err)
		}
	}
	newProjects := make([]string, 0, len(missing))
	for p := range missing {
		newProjects = append(newProjects, p)
	}
	sort.Strings(newProjects)
	isNew := map[userKey]bool{}
	for _, project := range newProjects {
		if err := addUsers(ctx, tx, project, missing[project], users, isNew); err != nil {
			return err
		}
	}
	rows, err := tx.Query(ctx, `
		SELECT k.p, k.s, u.uid, u.first_seen FROM unnest($1::text[], $2::text[]) AS k(p, s)
		CROSS JOIN LATERAL (SELECT uid, first_seen FROM rollup_users WHERE project = k.p AND subject = k.s LIMIT 1) u`, projects, subjects)
	if err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	var uid int32
	var firstSeen time.Time
	n := 0
	if _, err := pgx.ForEachRow(rows, []any{&p, &s, &uid, &firstSeen}, func() error {
		u := users[userKey{p, s}]
		u.uid = uint32(uid)
		// A user this call added has no stored first_seen of its own.
		if !isNew[userKey{p, s}] {
			u.stored, u.hasStored = firstSeen, true
		}
		n++
		return nil
	}); err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	if n != len(users) {
		return fmt.Errorf("read users: found %d of %d", n, len(users))
	}
	return nil
}

// addUsers inserts the project's users that are still new once the
// project's row is locked, with consecutive ids, and marks them in added.
func addUsers(ctx context.Context, tx pgx.Tx, project string, subjects []string, users map[userKey]*userState, added map[userKey]bool) error {
	firsts := make([]time.Time, len(subjects))
	for i, s := range subjects {
		firsts[i] = users[userKey{project, s}].first
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO rollup_projects (project, next_uid) VALUES ($1, 1)
		ON CONFLICT (project) DO UPDATE SET next_uid = rollup_projects.next_uid`, project)
	// A separate statement: its snapshot sees users committed by whoever
	// held the project lock before us.
	b.Queue(`
		WITH missing AS (
			SELECT k.s, k.t FROM unnest($2::text[], $3::timestamptz[]) AS k(s, t)
			LEFT JOIN LATERAL (SELECT 1 AS found FROM rollup_users u WHERE u.project = $1 AND u.subject = k.s LIMIT 1) u ON true
			WHERE u.found IS NULL
		), alloc AS (
			UPDATE rollup_projects SET next_uid = next_uid + (SELECT count(*) FROM missing)
			WHERE project = $1 RETURNING next_uid - (SELECT count(*) FROM missing) AS base
		)
		INSERT INTO rollup_users (project, subject, uid, first_seen)
		SELECT $1, m.s, a.base + row_number() OVER (ORDER BY m.s) - 1, m.t FROM missing m, alloc a
		RETURNING subject`,
		project, subjects, firsts)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("add users of %s: lock: %w", project, err)
	}
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("add users of %s: %w", project, err)
	}
	var s string
	if _, err := pgx.ForEachRow(rows, []any{&s}, func() error {
		added[userKey{project, s}] = true
		return nil
	}); err != nil {
		return fmt.Errorf("add users of %s: %w", project, err)
	}
	return br.Close()
}

// updateFirstSeen moves each user's first_seen back to the batch's
// earliest event when that is earlier (resolveUsers read the stored ones;
// users it added have theirs from this batch).
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
