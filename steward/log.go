package steward

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go)

	"donjon.dev/attest"
)

// Log is the issuance log: one row per certificate the steward issued, with
// the claims it certified, and one per sealing key it released. A
// certificate or key is handed out only after its row is committed, so the
// log misses nothing that left the steward.
type Log struct {
	db *sql.DB
}

// Entry is one issued certificate as the log records it.
type Entry struct {
	Serial      string // hex
	IssuedAt    time.Time
	NotAfter    time.Time
	Source      string // attest.Result.Source
	Claims      attest.Claims
	Remote      string // the requester's address, as the server saw it
	Certificate []byte // DER
}

const schema = `
CREATE TABLE IF NOT EXISTS issued (
	serial        TEXT PRIMARY KEY,
	issued_at     TEXT NOT NULL,  -- RFC 3339, UTC
	not_after     TEXT NOT NULL,
	source        TEXT NOT NULL,
	platform      TEXT NOT NULL,
	insecure      INTEGER NOT NULL,
	debug         INTEGER NOT NULL,
	product       TEXT NOT NULL,
	tcb           TEXT NOT NULL,  -- hex
	measurement   TEXT NOT NULL,
	platform_id   TEXT NOT NULL,
	module_digest TEXT NOT NULL,
	config_digest TEXT NOT NULL,
	remote        TEXT NOT NULL,
	certificate   BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS issued_module ON issued (module_digest);
CREATE TABLE IF NOT EXISTS released (
	released_at   TEXT NOT NULL,  -- RFC 3339, UTC
	serial        TEXT NOT NULL,  -- of the keep's certificate (issued.serial)
	platform      TEXT NOT NULL,
	debug         INTEGER NOT NULL,
	module_digest TEXT NOT NULL,
	purpose       TEXT NOT NULL,
	remote        TEXT NOT NULL
);
`

// OpenLog opens (creating if needed) the issuance log at path.
func OpenLog(ctx context.Context, path string) (*Log, error) {
	// WAL lets readers (an operator's sqlite3 shell) look while the steward
	// writes; synchronous=FULL makes a committed row survive power loss.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("steward: issuance log %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a single connection also
	// serialises inserts without "database is locked" retries.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("steward: issuance log %s: %w", path, err)
	}
	return &Log{db: db}, nil
}

// Close closes the log.
func (l *Log) Close() error { return l.db.Close() }

// Record commits e.
func (l *Log) Record(ctx context.Context, e Entry) error {
	c := e.Claims
	_, err := l.db.ExecContext(ctx, `INSERT INTO issued
		(serial, issued_at, not_after, source, platform, insecure, debug, product, tcb, measurement, platform_id, module_digest, config_digest, remote, certificate)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Serial, e.IssuedAt.UTC().Format(time.RFC3339Nano), e.NotAfter.UTC().Format(time.RFC3339Nano), e.Source,
		c.Platform.String(), c.Insecure, c.Debug, c.Product, hex.EncodeToString(c.TCB), hex.EncodeToString(c.Measurement),
		hex.EncodeToString(c.PlatformID), hex.EncodeToString(c.ModuleDigest[:]), hex.EncodeToString(c.ConfigDigest[:]),
		e.Remote, e.Certificate)
	if err != nil {
		return fmt.Errorf("steward: issuance log: record %s: %w", e.Serial, err)
	}
	return nil
}

// RecordRelease commits r. The key is not part of it.
func (l *Log) RecordRelease(ctx context.Context, r Release) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO released (released_at, serial, platform, debug, module_digest, purpose, remote)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.At.UTC().Format(time.RFC3339Nano), r.Serial, r.Platform.String(), r.Debug, hex.EncodeToString(r.Module[:]), r.Purpose, r.Remote)
	if err != nil {
		return fmt.Errorf("steward: issuance log: record sealing key release to %s: %w", r.Serial, err)
	}
	return nil
}

// Releases is the number of sealing keys released.
func (l *Log) Releases(ctx context.Context) (int, error) {
	var n int
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM released`).Scan(&n); err != nil {
		return 0, fmt.Errorf("steward: issuance log: %w", err)
	}
	return n, nil
}

// Count is the number of certificates issued.
func (l *Log) Count(ctx context.Context) (int, error) {
	var n int
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM issued`).Scan(&n); err != nil {
		return 0, fmt.Errorf("steward: issuance log: %w", err)
	}
	return n, nil
}

// Lookup returns the entry for serial (hex), or sql.ErrNoRows.
func (l *Log) Lookup(ctx context.Context, serial string) (*Entry, error) {
	var (
		e                                           Entry
		issued, notAfter, platform                  string
		tcb, measurement, platformID, module, confg string
	)
	err := l.db.QueryRowContext(ctx, `SELECT serial, issued_at, not_after, source, platform, insecure, debug, product, tcb, measurement, platform_id, module_digest, config_digest, remote, certificate
		FROM issued WHERE serial = ?`, serial).Scan(&e.Serial, &issued, &notAfter, &e.Source, &platform, &e.Claims.Insecure, &e.Claims.Debug,
		&e.Claims.Product, &tcb, &measurement, &platformID, &module, &confg, &e.Remote, &e.Certificate)
	if err != nil {
		return nil, fmt.Errorf("steward: issuance log: lookup %s: %w", serial, err)
	}
	e.IssuedAt, _ = time.Parse(time.RFC3339Nano, issued)
	e.NotAfter, _ = time.Parse(time.RFC3339Nano, notAfter)
	for _, p := range []attest.Platform{attest.PlatformNil, attest.PlatformSNP, attest.PlatformTDX} {
		if p.String() == platform {
			e.Claims.Platform = p
		}
	}
	e.Claims.TCB, _ = hex.DecodeString(tcb)
	e.Claims.Measurement, _ = hex.DecodeString(measurement)
	e.Claims.PlatformID, _ = hex.DecodeString(platformID)
	m, _ := hex.DecodeString(module)
	copy(e.Claims.ModuleDigest[:], m)
	cd, _ := hex.DecodeString(confg)
	copy(e.Claims.ConfigDigest[:], cd)
	return &e, nil
}
