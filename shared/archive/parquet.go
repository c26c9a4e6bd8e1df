package archive

import (
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
)

// Row is one archived event: the columns of the events table. props and
// extensions are JSON text in plain string columns (parquet-go v0.32 does
// not read back an optional column of the JSON logical type).
type Row struct {
	Project         string    `parquet:"project,dict"`
	Source          string    `parquet:"source,dict"`
	ID              string    `parquet:"id"`
	Type            string    `parquet:"type,dict"`
	Subject         *string   `parquet:"subject,optional"`
	Time            time.Time `parquet:"time,timestamp(microsecond)"`
	ReceivedAt      time.Time `parquet:"received_at,timestamp(microsecond)"`
	DataContentType *string   `parquet:"datacontenttype,optional"`
	DataSchema      *string   `parquet:"dataschema,optional"`
	Props           *string   `parquet:"props,optional"`
	Data            []byte    `parquet:"data,optional"`
	Extensions      string    `parquet:"extensions"`
}

// selectColumns reads events rows in Row's order.
const selectColumns = `project, source, id, type, subject, time, received_at,
	datacontenttype, dataschema, props::text, data, extensions::text`

const (
	// rowGroupRows bounds a row group, and so the writer's memory.
	rowGroupRows = 64 * 1024
	// writeBatch is how many rows are handed to the writer at once.
	writeBatch = 1024
)

// writeRows writes every row of rows (selectColumns) to w as one Parquet
// file and returns how many there were. It closes rows.
func writeRows(w io.Writer, rows pgx.Rows) (int64, error) {
	defer rows.Close()
	pw := parquet.NewGenericWriter[Row](w,
		parquet.Compression(&parquet.Zstd),
		parquet.MaxRowsPerRowGroup(rowGroupRows),
	)
	buf := make([]Row, 0, writeBatch)
	var n int64
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := pw.Write(buf); err != nil {
			return fmt.Errorf("write parquet: %w", err)
		}
		n += int64(len(buf))
		clear(buf)
		buf = buf[:0]
		return nil
	}
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return n, err
		}
		buf = append(buf, r)
		if len(buf) == writeBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read events: %w", err)
	}
	if err := flush(); err != nil {
		return n, err
	}
	if err := pw.Close(); err != nil {
		return n, fmt.Errorf("close parquet: %w", err)
	}
	return n, nil
}

// scanRow reads the current row of rows (selectColumns).
func scanRow(rows pgx.Rows) (Row, error) {
	var r Row
	if err := rows.Scan(&r.Project, &r.Source, &r.ID, &r.Type, &r.Subject, &r.Time, &r.ReceivedAt,
		&r.DataContentType, &r.DataSchema, &r.Props, &r.Data, &r.Extensions); err != nil {
		return r, fmt.Errorf("read event: %w", err)
	}
	r.Time, r.ReceivedAt = r.Time.UTC(), r.ReceivedAt.UTC()
	return r, nil
}

// ReadRows returns every row of one archive file.
func ReadRows(r io.ReaderAt, size int64) ([]Row, error) {
	rows, err := parquet.Read[Row](r, size)
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	return rows, nil
}
