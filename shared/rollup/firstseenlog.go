package rollup

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// firstSeenLogKeep is how many rollup_version counts keep their rows of
// rollup_first_seen_log: a stats process brings a read up to date across
// as many steps as it missed while nobody asked it (a dashboard refreshes
// each minute; the materializer steps every few seconds under load), and
// past that reads again. Bounded so that the table stays small: a step of
// scattered events logs up to a row per new user.
const firstSeenLogKeep = 64

// logFirstSeen records in rollup_first_seen_log, under the step's version,
// the users it added and those whose first_seen it may have moved back,
// with the step's first event of each: one row per project of evs, empty
// arrays for a project with none, so that every Apply leaves a row of its
// version (FirstSeenSince tells a version without one, a rebuild's, by
// that). The users a Memo knew are in it whenever updateFirstSeen may
// have moved theirs, with a time that may be later than the row's: a
// reader takes the earlier of the two, as updateFirstSeen does.
func logFirstSeen(ctx context.Context, tx pgx.Tx, version int64, names map[nameKey]uint32, loud map[userKey]*userState) error {
	type logged struct {
		uid   int32
		first time.Time
	}
	byProject := map[string][]logged{}
	for k := range names {
		byProject[k.project] = nil
	}
	for k, u := range loud {
		if !u.hasStored || u.first.Before(u.stored) {
			byProject[k.project] = append(byProject[k.project], logged{int32(u.uid), u.first})
		}
	}
	rows := make([][]any, 0, len(byProject))
	for p, users := range byProject {
		// In id order: the same step logs the same rows whatever the
		// order of the map it gathered them from.
		slices.SortFunc(users, func(a, b logged) int { return cmp.Compare(a.uid, b.uid) })
		uids, firsts := make([]int32, len(users)), make([]time.Time, len(users))
		for i, u := range users {
			uids[i], firsts[i] = u.uid, u.first
		}
		rows = append(rows, []any{version, p, uids, firsts})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_first_seen_log"}, []string{"version", "project", "uids", "firsts"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("log first events: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_first_seen_log WHERE version <= $1`, version-firstSeenLogKeep); err != nil {
		return fmt.Errorf("log first events: prune: %w", err)
	}
	return nil
}

// FirstSeenSince returns what the materialization steps of the versions
// in (after, upTo] logged of project's users (logFirstSeen): each user
// they added or whose first event they may have moved back, with a time
// at or after its first_seen as of upTo (a user may come several times).
// complete is false when a version of the range left no row (a rebuild,
// or rows pruned since): the caller must read rollup_users instead.
func FirstSeenSince(ctx context.Context, q Querier, project string, after, upTo int64) (uids []int32, firsts []time.Time, complete bool, err error) {
	// Other projects' rows name their version only: CASE does not
	// detoast arrays it does not return.
	rows, err := q.Query(ctx, `SELECT version, CASE WHEN project = $3 THEN uids END, CASE WHEN project = $3 THEN firsts END
		FROM rollup_first_seen_log WHERE version > $1 AND version <= $2`, after, upTo, project)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read first events log: %w", err)
	}
	versions := map[int64]bool{}
	var version int64
	var us []int32
	var fs []time.Time
	_, err = pgx.ForEachRow(rows, []any{&version, &us, &fs}, func() error {
		versions[version] = true
		uids, firsts = append(uids, us...), append(firsts, fs...)
		return nil
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("read first events log: %w", err)
	}
	if len(uids) != len(firsts) {
		return nil, nil, false, fmt.Errorf("read first events log: %d users, %d times", len(uids), len(firsts))
	}
	return uids, firsts, int64(len(versions)) == upTo-after, nil
}
