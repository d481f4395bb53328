"""PostgreSQL: the two foreign keys every written row fires are checked once per statement.

``entries`` → ``records`` and ``records`` → ``streams`` were row-level foreign keys. On
PostgreSQL each checks its row with a query that also locks the referenced row (``FOR KEY
SHARE``, which writes the lock into the row and the write-ahead log): measured on a page
written by ``COPY``, the two cost about 25 µs of server CPU per record, half of what the
server spends writing it. They are replaced by triggers. An insert is checked once per
statement, all its rows in one query over the statement's transition table: an entry whose
record does not exist, or a record whose stream does not exist, still fails the statement
with ``foreign_key_violation`` naming the old constraint. An update that changes a row's
key or a delete that would orphan rows fails the same way (a truncate that would, as
PostgreSQL refuses one: ``feature_not_supported``); the update checks fire per row and only
when a key changes (``UPDATE OF`` the key columns, ``WHEN`` it differs),
so cexledger's own updates of a record's bytes or flags, one statement per record, never
run them. The functions keep the ``search_path`` they were created with, so they check the
archive's own tables as the foreign keys did. What the triggers do not do is lock: a record
deleted by hand in another transaction while a sync inserts its entries could leave them
orphaned, where the foreign key would have made one wait for the other. cexledger's own
writes never race that way (records are never deleted, and one stream has one writer at a
time).

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

CREATE FUNCTION cexledger_entries_have_records() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF EXISTS (SELECT FROM cexledger_new_rows n WHERE NOT EXISTS (
      SELECT FROM records r WHERE r.stream_id = n.stream_id AND r.record_id = n.record_id)) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_entries_record',
      MESSAGE = 'insert on table "entries" violates fk_entries_record: an entry has no record';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_records_have_streams() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF EXISTS (SELECT FROM (SELECT DISTINCT stream_id FROM cexledger_new_rows) n WHERE NOT EXISTS (
      SELECT FROM streams s WHERE s.id = n.stream_id)) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'records_stream_id_fkey',
      MESSAGE = 'insert on table "records" violates records_stream_id_fkey: a record has no stream';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_entry_has_record() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM records r WHERE r.stream_id = NEW.stream_id AND r.record_id = NEW.record_id) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_entries_record',
      MESSAGE = 'update on table "entries" violates fk_entries_record: record ' || NEW.record_id
                || ' of stream ' || NEW.stream_id || ' does not exist';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_record_has_stream() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM streams s WHERE s.id = NEW.stream_id) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'records_stream_id_fkey',
      MESSAGE = 'update on table "records" violates records_stream_id_fkey: stream ' || NEW.stream_id
                || ' does not exist';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_record_keeps_entries() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF (TG_OP = 'DELETE' OR (OLD.stream_id, OLD.record_id) IS DISTINCT FROM (NEW.stream_id, NEW.record_id))
     AND EXISTS (SELECT FROM entries e WHERE e.stream_id = OLD.stream_id AND e.record_id = OLD.record_id) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_entries_record',
      MESSAGE = lower(TG_OP) || ' on table "records" violates fk_entries_record: record ' || OLD.record_id
                || ' of stream ' || OLD.stream_id || ' has entries';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_stream_keeps_records() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF (TG_OP = 'DELETE' OR OLD.id IS DISTINCT FROM NEW.id)
     AND EXISTS (SELECT FROM records r WHERE r.stream_id = OLD.id) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'records_stream_id_fkey',
      MESSAGE = lower(TG_OP) || ' on table "streams" violates records_stream_id_fkey: stream ' || OLD.id
                || ' has records';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION cexledger_nothing_left_orphaned() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  IF (TG_TABLE_NAME = 'records' AND EXISTS (SELECT FROM entries))
     OR (TG_TABLE_NAME = 'streams' AND EXISTS (SELECT FROM records)) THEN
    RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
      MESSAGE = 'cannot truncate table "' || TG_TABLE_NAME || '": rows of another table still refer to it';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER cexledger_entries_inserted AFTER INSERT ON entries
  REFERENCING NEW TABLE AS cexledger_new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cexledger_entries_have_records();
CREATE TRIGGER cexledger_records_inserted AFTER INSERT ON records
  REFERENCING NEW TABLE AS cexledger_new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cexledger_records_have_streams();
CREATE TRIGGER cexledger_entries_moved AFTER UPDATE OF stream_id, record_id ON entries FOR EACH ROW
  WHEN ((OLD.stream_id, OLD.record_id) IS DISTINCT FROM (NEW.stream_id, NEW.record_id))
  EXECUTE FUNCTION cexledger_entry_has_record();
CREATE TRIGGER cexledger_records_moved AFTER UPDATE OF stream_id ON records FOR EACH ROW
  WHEN (OLD.stream_id IS DISTINCT FROM NEW.stream_id)
  EXECUTE FUNCTION cexledger_record_has_stream();
CREATE TRIGGER cexledger_records_rekeyed AFTER DELETE OR UPDATE OF stream_id, record_id ON records
  FOR EACH ROW EXECUTE FUNCTION cexledger_record_keeps_entries();
CREATE TRIGGER cexledger_streams_rekeyed AFTER DELETE OR UPDATE OF id ON streams
  FOR EACH ROW EXECUTE FUNCTION cexledger_stream_keeps_records();
CREATE TRIGGER cexledger_records_truncated AFTER TRUNCATE ON records
  FOR EACH STATEMENT EXECUTE FUNCTION cexledger_nothing_left_orphaned();
CREATE TRIGGER cexledger_streams_truncated AFTER TRUNCATE ON streams
  FOR EACH STATEMENT EXECUTE FUNCTION cexledger_nothing_left_orphaned();
"""

_DOWNGRADE = r"""
DROP TRIGGER cexledger_streams_truncated ON streams;
DROP TRIGGER cexledger_records_truncated ON records;
DROP TRIGGER cexledger_streams_rekeyed ON streams;
DROP TRIGGER cexledger_records_rekeyed ON records;
DROP TRIGGER cexledger_records_moved ON records;
DROP TRIGGER cexledger_entries_moved ON entries;
DROP TRIGGER cexledger_records_inserted ON records;
DROP TRIGGER cexledger_entries_inserted ON entries;
DROP FUNCTION cexledger_nothing_left_orphaned();
DROP FUNCTION cexledger_stream_keeps_records();
DROP FUNCTION cexledger_record_keeps_entries();
DROP FUNCTION cexledger_record_has_stream();
DROP FUNCTION cexledger_entry_has_record();
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
