"""The PostgreSQL side of change capture: the outbox, its triggers, and the statements that read it.

Every captured table has an ``AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW`` trigger that appends the
row (``to_jsonb``: the new row, or the old one for a delete) to ``realtime_capture_outbox`` with its
transaction's id and its rank in that transaction (0, 1, ...; a per-transaction counter kept in the
transaction-local setting ``realtime.capture_n``, undone with a rolled-back savepoint like the rows), and an
``AFTER TRUNCATE ... FOR EACH STATEMENT`` trigger that appends one row-less change (op ``t``, row ``{}``).

Commit order: the first outbox row of a transaction queues a deferred constraint trigger that runs at
``COMMIT``. It takes a transaction-level advisory lock, reserves the transaction's event ids from a sequence
(``first_event`` .. ``first_event + n - 1``), records them in ``realtime_capture_txn`` and sends a
``NOTIFY realtime_capture`` (empty: rows never go through NOTIFY). The lock is held until the commit is
visible, so event ids are reserved in commit order, and when a transaction's ids are visible every
transaction with smaller ids has ended: a reader that reads ids above its position in order skips
nothing. A transaction that fails after the reservation leaves a gap in the ids that never fills.
"""

from __future__ import annotations

from typing import Any

COMMIT_LOCK = 8243124871055405925
"""The advisory lock (``'realtime'`` in ASCII) that orders the reservations of committing transactions."""
LEADER_LOCK = COMMIT_LOCK + 1
"""The session advisory lock held by the one publisher."""
CHANNEL = "realtime_capture"
"""The NOTIFY channel: a wake-up, no payload."""
TRIGGER = "realtime_capture"
"""The name of the row trigger on every captured table."""
TRUNCATE_TRIGGER = "realtime_capture_truncate"
"""The name of the statement trigger that captures a ``TRUNCATE`` of a captured table."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS realtime_capture_outbox (
    id bigserial PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    n integer NOT NULL,
    tbl text NOT NULL,
    op "char" NOT NULL,
    row jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS realtime_capture_outbox_xid ON realtime_capture_outbox (xid, n);
CREATE TABLE IF NOT EXISTS realtime_capture_txn (
    first_event bigint PRIMARY KEY,
    last_event bigint NOT NULL,
    xid xid8 NOT NULL
);
CREATE INDEX IF NOT EXISTS realtime_capture_txn_last ON realtime_capture_txn (last_event);
CREATE SEQUENCE IF NOT EXISTS realtime_capture_event_seq;
CREATE TABLE IF NOT EXISTS realtime_capture_state (
    id integer PRIMARY KEY CHECK (id = 1),
    published bigint NOT NULL,
    pruned bigint NOT NULL
);
INSERT INTO realtime_capture_state VALUES (1, 0, 0) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION realtime_capture_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(nullif(current_setting('realtime.capture_n', true), ''), '0')::integer;
BEGIN
    PERFORM set_config('realtime.capture_n', (n + 1)::text, true);
    INSERT INTO realtime_capture_outbox (n, tbl, op, row) VALUES (
        n, TG_TABLE_NAME, lower(left(TG_OP, 1)),
        CASE TG_OP WHEN 'DELETE' THEN to_jsonb(OLD) WHEN 'TRUNCATE' THEN '{{}}'::jsonb ELSE to_jsonb(NEW) END
    );
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION realtime_capture_commit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint := current_setting('realtime.capture_n')::bigint;
    first bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({COMMIT_LOCK});
    first := nextval('realtime_capture_event_seq');
    IF n > 1 THEN
        PERFORM setval('realtime_capture_event_seq', first + n - 1);
    END IF;
    INSERT INTO realtime_capture_txn VALUES (first, first + n - 1, NEW.xid);
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS realtime_capture_commit ON realtime_capture_outbox;
CREATE CONSTRAINT TRIGGER realtime_capture_commit AFTER INSERT ON realtime_capture_outbox
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.n = 0) EXECUTE FUNCTION realtime_capture_commit();
"""
"""Creates (or replaces) what every captured table shares; idempotent."""

DROP_SCHEMA = """
DROP TABLE IF EXISTS realtime_capture_outbox, realtime_capture_txn, realtime_capture_state;
DROP SEQUENCE IF EXISTS realtime_capture_event_seq;
DROP FUNCTION IF EXISTS realtime_capture_row(), realtime_capture_commit();
"""

CHANGES = """
SELECT t.first_event + o.n, o.tbl, o.op, o.row::text
FROM realtime_capture_txn t JOIN realtime_capture_outbox o ON o.xid = t.xid
WHERE t.last_event > %(after)s AND t.first_event + o.n > %(after)s
ORDER BY t.first_event, o.n
LIMIT %(limit)s
"""
"""The committed changes after event id ``after``, in commit order: ``(event id, table, op, row as JSON)``."""

STATE = "SELECT published, pruned FROM realtime_capture_state WHERE id = 1"
LAST_EVENT = (
    "SELECT greatest(coalesce(max(last_event), 0), (SELECT pruned FROM realtime_capture_state WHERE id = 1)) "
    "FROM realtime_capture_txn"
)
"""The newest event id (the pruned position when the outbox holds nothing)."""
STORE = "UPDATE realtime_capture_state SET published = %(published)s WHERE id = 1"
PRUNE = """
WITH gone AS (
    DELETE FROM realtime_capture_txn WHERE last_event <= %(upto)s RETURNING xid, last_event
), rows AS (
    DELETE FROM realtime_capture_outbox WHERE xid IN (SELECT xid FROM gone)
)
UPDATE realtime_capture_state SET pruned = greatest(pruned, (SELECT max(last_event) FROM gone))
WHERE id = 1 AND EXISTS (SELECT 1 FROM gone)
"""
"""Forget the changes up to event id ``upto`` (whole transactions); ``pruned`` records how far."""

TRY_LEAD = f"SELECT pg_try_advisory_lock({LEADER_LOCK})"
INSTALLED = (
    f"SELECT c.relname, bool_or(t.tgname = '{TRUNCATE_TRIGGER}') "
    "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    f"WHERE t.tgname IN ('{TRIGGER}', '{TRUNCATE_TRIGGER}') AND NOT t.tgisinternal GROUP BY 1 ORDER BY 1"
)
"""The captured tables, each with whether its ``TRUNCATE`` is captured too (installed before it was not)."""


def install_table(quoted_table: str) -> str:
    """The statements that capture ``quoted_table`` (already quoted); run after :data:`SCHEMA`."""
    return (
        f"{remove_table(quoted_table)};\nCREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {quoted_table} "
        "FOR EACH ROW EXECUTE FUNCTION realtime_capture_row();\n"
        f"CREATE TRIGGER {TRUNCATE_TRIGGER} AFTER TRUNCATE ON {quoted_table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION realtime_capture_row()"
    )


def remove_table(quoted_table: str) -> str:
    """The statements that stop capturing ``quoted_table``."""
    return ";\n".join(f"DROP TRIGGER IF EXISTS {name} ON {quoted_table}" for name in (TRIGGER, TRUNCATE_TRIGGER))


def run(cursor: Any, script: str) -> None:
    """Execute ``script`` (several statements) with a DB-API cursor, one statement at a time."""
    for statement in split(script):
        cursor.execute(statement)


def split(script: str) -> list[str]:
    """The statements of ``script``: split on ``;`` at line ends outside ``$$`` bodies."""
    statements, current, in_body = [], [], False
    for line in script.splitlines():
        in_body ^= line.count("$$") % 2 == 1
        current.append(line)
        if not in_body and line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    rest = "\n".join(current).strip()
    if rest:
        statements.append(rest)
    return [s for s in statements if s]
