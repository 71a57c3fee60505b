package postgres

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/causewayhq/causeway/eventlog"
)

// rowDecoder turns the event columns of a result row (eventColumns, in that
// order, from column off on) into an eventlog.Event. Catch-up decodes every
// event of the log, and scanning with rows.Scan cost an allocation per
// column and per row on top of the values themselves (pointers escaping
// through ...any, a scanned *uint64, every text copied on its own), plus
// the garbage collector's work for each. This decoder reads the raw values
// and allocates two objects per event: the data, and one string that holds
// the stream id and the metadata text (its fields are substrings of it).
// Type names repeat, so each read keeps one string per distinct type.
//
// It decodes the formats pgx asks for with its default type map (binary
// integers, xid8, uuid and timestamptz; text for text and jsonb); any other
// format or type of a column — a simple-protocol connection, a registered
// codec — goes through the connection's type map, as rows.Scan would.
type rowDecoder struct {
	off   int
	tm    *pgtype.Map
	fast  [nEventColumns]bool
	oids  [nEventColumns]uint32
	fmts  [nEventColumns]int16
	types map[string]string
}

// Event columns, in the order of eventColumns.
const (
	colTx = iota
	colPos
	colID
	colStream
	colVersion
	colType
	colData
	colMeta
	colRecorded
	nEventColumns
)

// PostgreSQL type OIDs the fast paths accept.
const (
	oidInt8        = 20
	oidText        = 25
	oidJSON        = 114
	oidVarchar     = 1043
	oidTimestamptz = 1184
	oidUUID        = 2950
	oidJSONB       = 3802
	oidXID8        = 5069
)

func newRowDecoder(rows pgx.Rows, off int) (*rowDecoder, error) {
	fds := rows.FieldDescriptions()
	if len(fds) < off+nEventColumns {
		return nil, fmt.Errorf("decode events: %d columns, want %d", len(fds), off+nEventColumns)
	}
	d := &rowDecoder{off: off, types: make(map[string]string, 4)}
	if c := rows.Conn(); c != nil {
		d.tm = c.TypeMap()
	} else {
		d.tm = pgtype.NewMap()
	}
	for i := range nEventColumns {
		fd := fds[off+i]
		d.oids[i], d.fmts[i] = fd.DataTypeOID, fd.Format
		bin := fd.Format == pgtype.BinaryFormatCode
		switch i {
		case colTx:
			d.fast[i] = bin && fd.DataTypeOID == oidXID8
		case colPos, colVersion:
			d.fast[i] = bin && fd.DataTypeOID == oidInt8
		case colID:
			d.fast[i] = bin && fd.DataTypeOID == oidUUID
		case colStream, colType:
			// text is sent as is in either format.
			d.fast[i] = fd.DataTypeOID == oidText || fd.DataTypeOID == oidVarchar
		case colData, colMeta:
			// jsonb's binary format is a version byte and the text.
			d.fast[i] = fd.DataTypeOID == oidJSON || fd.DataTypeOID == oidJSONB && !bin
		case colRecorded:
			d.fast[i] = bin && fd.DataTypeOID == oidTimestamptz && defaultTimestamptz(d.tm)
		}
	}
	return d, nil
}

// defaultTimestamptz reports whether tm decodes timestamptz as pgx's default
// map does (in the local time zone), so the fast path gives the same time.
func defaultTimestamptz(tm *pgtype.Map) bool {
	t, ok := tm.TypeForOID(oidTimestamptz)
	if !ok {
		return false
	}
	c, ok := t.Codec.(*pgtype.TimestamptzCodec)
	return ok && c.ScanLocation == nil
}

// isNull reports whether the row's tx_id is NULL: the outer-join row of a
// read that found no event.
func (d *rowDecoder) isNull(vals [][]byte) bool { return vals[d.off+colTx] == nil }

// decode fills e from the row's raw values.
func (d *rowDecoder) decode(vals [][]byte, e *eventlog.Event) error {
	v := vals[d.off : d.off+nEventColumns]
	*e = eventlog.Event{}
	if err := d.uint64(v, colTx, &e.Position.TxID); err != nil {
		return err
	}
	if err := d.int64(v, colPos, &e.Position.Seq); err != nil {
		return err
	}
	if err := d.int64(v, colVersion, &e.Version); err != nil {
		return err
	}
	if d.fast[colID] && len(v[colID]) == 16 {
		copy(e.ID[:], v[colID])
	} else if err := d.scan(v, colID, (*[16]byte)(&e.ID)); err != nil {
		return err
	}
	if err := d.recorded(v, &e.RecordedAt); err != nil {
		return err
	}
	typ, err := d.text(v, colType)
	if err != nil {
		return err
	}
	if s, ok := d.types[string(typ)]; ok { // no allocation for the lookup
		e.Type = s
	} else {
		e.Type = string(typ)
		d.types[e.Type] = e.Type
	}
	data, err := d.json(v, colData)
	if err != nil {
		return err
	}
	e.Data = append(make([]byte, 0, len(data)), data...)
	stream, err := d.text(v, colStream)
	if err != nil {
		return err
	}
	meta, err := d.json(v, colMeta)
	if err != nil {
		return err
	}
	if len(meta) == 0 || string(meta) == "{}" {
		e.StreamID = string(stream)
		return nil
	}
	// One allocation for both; the metadata's strings are substrings.
	var b strings.Builder
	b.Grow(len(stream) + len(meta))
	b.Write(stream)
	b.Write(meta)
	all := b.String()
	e.StreamID = all[:len(stream)]
	if err := decodeMetadata(all[len(stream):], &e.Metadata); err != nil {
		return fmt.Errorf("event %s: decode metadata: %w", e.ID, err)
	}
	return nil
}

func (d *rowDecoder) scan(v [][]byte, col int, dst any) error {
	if err := d.tm.Scan(d.oids[col], d.fmts[col], v[col], dst); err != nil {
		return fmt.Errorf("decode event column %d: %w", col, err)
	}
	return nil
}

func (d *rowDecoder) uint64(v [][]byte, col int, dst *uint64) error {
	if d.fast[col] && len(v[col]) == 8 {
		*dst = binary.BigEndian.Uint64(v[col])
		return nil
	}
	return d.scan(v, col, dst)
}

func (d *rowDecoder) int64(v [][]byte, col int, dst *int64) error {
	if d.fast[col] && len(v[col]) == 8 {
		*dst = int64(binary.BigEndian.Uint64(v[col]))
		return nil
	}
	return d.scan(v, col, dst)
}

// text returns a text column's bytes, valid until the next row.
func (d *rowDecoder) text(v [][]byte, col int) ([]byte, error) {
	if d.fast[col] && v[col] != nil {
		return v[col], nil
	}
	var s string
	if err := d.scan(v, col, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// json returns a json or jsonb column's text, valid until the next row.
func (d *rowDecoder) json(v [][]byte, col int) ([]byte, error) {
	if d.fast[col] && v[col] != nil {
		return v[col], nil
	}
	var b []byte
	if err := d.scan(v, col, &b); err != nil {
		return nil, err
	}
	return b, nil
}

// Binary timestamptz: microseconds since 2000-01-01 UTC; the two extremes
// stand for ±infinity, which a recorded_at never is.
const (
	y2kUnixMicros       = 946684800 * 1_000_000
	infinityMicros      = 1<<63 - 1
	negInfinityMicros   = -1 << 63
	microsPerSecond     = 1_000_000
	nanosPerMicrosecond = 1_000
)

func (d *rowDecoder) recorded(v [][]byte, dst *time.Time) error {
	raw := v[colRecorded]
	if !d.fast[colRecorded] || len(raw) != 8 {
		return d.scan(v, colRecorded, dst)
	}
	us := int64(binary.BigEndian.Uint64(raw))
	if us == infinityMicros || us == negInfinityMicros {
		return d.scan(v, colRecorded, dst) // pgx's error for an infinite time
	}
	// As pgx computes it, so the result is the same time.Time.
	*dst = time.Unix(
		y2kUnixMicros/microsPerSecond+us/microsPerSecond,
		(y2kUnixMicros%microsPerSecond*nanosPerMicrosecond)+(us%microsPerSecond*nanosPerMicrosecond),
	)
	return nil
}
