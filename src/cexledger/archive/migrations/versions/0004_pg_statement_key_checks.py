"""PostgreSQL: the two foreign keys every written row fires are checked once per statement.

``entries`` → ``records`` and ``records`` → ``streams`` were row-level foreign keys. On
PostgreSQL each checks its row with a query that also locks the referenced row (``FOR KEY
SHARE``, which writes the lock into the row and the write-ahead log): measured on a page
written by ``COPY``, the two cost about 25 µs of server CPU per record, half of what the
server spends writing it. They are replaced by triggers that run once per statement and
check all the statement's rows in one query (its transition table): an entry whose record
does not exist, or a record whose stream does not exist, still fails the statement with
``foreign_key_violation``; deleting a record that has entries, or a stream that has records,
or changing their keys under them, fails the same way (those fire per row, but cexledger
never deletes or re-keys either, so they cost nothing). What the triggers do not do is lock:
a record deleted by hand in another transaction while a sync inserts its entries could
leave them orphaned, where the foreign key would have made one wait for the other.
cexledger's own writes never race that way (records are never deleted, and one stream has
one writer at a time).

SQLite keeps its foreign keys: there a check is an index lookup without a lock.

Self-contained on purpose (no imports from the package), like every migration.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# no ``%`` anywhere: the driver reads it as a placeholder
_UPGRADE = r"""
ALTER TABLE entries DROP CONSTRAINT fk_entries_record;
ALTER TABLE records DROP CONSTRAINT records_stream_id_fkey;

CREATE FUNCTION cexledger_entries_have_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM cexledger_new_rows n WHERE NOT EXISTS (
      SELECT FROM records r WHERE r.stream_id = n.stream_id AND r.record_id = n.record_id)) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_entries_record',
      MESSAGE = TG_OP || ' on table "entries" violates fk_entries_record: an entry has no record';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_records_have_streams() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM (SELECT DISTINCT stream_id FROM cexledger_new_rows) n WHERE NOT EXISTS (
      SELECT FROM streams s WHERE s.id = n.stream_id)) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'records_stream_id_fkey',
      MESSAGE = TG_OP || ' on table "records" violates records_stream_id_fkey: a record has no stream';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_record_keeps_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (TG_OP = 'DELETE' OR (OLD.stream_id, OLD.record_id) IS DISTINCT FROM (NEW.stream_id, NEW.record_id))
     AND EXISTS (SELECT FROM entries e WHERE e.stream_id = OLD.stream_id AND e.record_id = OLD.record_id) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_entries_record',
      MESSAGE = TG_OP || ' on table "records" violates fk_entries_record: record ' || OLD.record_id
                || ' of stream ' || OLD.stream_id || ' has entries';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_stream_keeps_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (TG_OP = 'DELETE' OR OLD.id IS DISTINCT FROM NEW.id)
     AND EXISTS (SELECT FROM records r WHERE r.stream_id = OLD.id) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'records_stream_id_fkey',
      MESSAGE = TG_OP || ' on table "streams" violates records_stream_id_fkey: stream ' || OLD.id || ' has records';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER cexledger_entries_inserted AFTER INSERT ON entries
  REFERENCING NEW TABLE AS cexledger_new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cexledger_entries_have_records();
CREATE TRIGGER cexledger_entries_updated AFTER UPDATE ON entries
  REFERENCING NEW TABLE AS cexledger_new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cexledger_entries_have_records();
CREATE TRIGGER cexledger_records_inserted AFTER INSERT ON records
  REFERENCING NEW TABLE AS cexledger_new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cexledger_records_have_streams();
CREATE TRIGGER cexledger_records_updated AFTER UPDATE ON records
  REFERENCING NEW TABLE AS cexledger_new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cexledger_records_have_streams();
CREATE TRIGGER cexledger_records_rekeyed AFTER DELETE OR UPDATE OF stream_id, record_id ON records
  FOR EACH ROW EXECUTE FUNCTION cexledger_record_keeps_entries();
CREATE TRIGGER cexledger_streams_rekeyed AFTER DELETE OR UPDATE OF id ON streams
  FOR EACH ROW EXECUTE FUNCTION cexledger_stream_keeps_records();
"""

_DOWNGRADE = r"""
DROP TRIGGER cexledger_streams_rekeyed ON streams;
DROP TRIGGER cexledger_records_rekeyed ON records;
DROP TRIGGER cexledger_records_updated ON records;
DROP TRIGGER cexledger_records_inserted ON records;
DROP TRIGGER cexledger_entries_updated ON entries;
DROP TRIGGER cexledger_entries_inserted ON entries;
DROP FUNCTION cexledger_stream_keeps_records();
DROP FUNCTION cexledger_record_keeps_entries();
DROP FUNCTION cexledger_records_have_streams();
DROP FUNCTION cexledger_entries_have_records();
ALTER TABLE records ADD CONSTRAINT records_stream_id_fkey FOREIGN KEY (stream_id) REFERENCES streams (id);
ALTER TABLE entries ADD CONSTRAINT fk_entries_record FOREIGN KEY (stream_id, record_id)
  REFERENCES records (stream_id, record_id);
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.get_bind().exec_driver_sql(_UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.get_bind().exec_driver_sql(_DOWNGRADE)
