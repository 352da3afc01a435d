"""Backups and a verified restore: `xorj db backup` and `xorj db restore`.

A backup is a new directory of two files: `xorj.dump`, pg_dump's custom format (`-Fc`)
of the whole database (schemas xorj and api, yoyo's tables, owners and privileges), made
as the owner; and `manifest.json`, written last (a directory without it is no backup):
format, time of the snapshot, server version, the owner and every role the dump names,
the applied yoyo migrations, the row count of every table of schema xorj, checksums of
the trade log (trades, trade_events) and the sha256 of the dump.

One snapshot: the manifest's figures are read in a REPEATABLE READ transaction that
exports its snapshot (pg_export_snapshot()) and stays open while pg_dump runs with
--snapshot, so the dump holds exactly the rows the manifest counts, whatever commits
meanwhile. The session holds the migrations' advisory lock (app.migrate) in shared mode
throughout: a running migrate is waited for, and none starts until the dump is made.

A restore checks the dump's sha256, then the target: reachable, empty (no schema but
public; no relation, function or type outside the system's schemas, yoyo's tables
included; extensions' objects do not count), a server not older than the backup's, the
manifest's roles present (they are cluster-wide, never in a dump), a login that can act
as the backup's owner and create schemas. Owners and privileges are restored as they were
(no --no-owner: the SECURITY DEFINER functions must run as the tables' owner and the
processes' roles keep their grants). pg_restore runs in one transaction; then the counts,
checksums and migrations are read again and compared with the manifest, and the tables
analyzed.

Checksums are computed in the database, in blocks of rows (CHECKSUM_ALGORITHM).

pg_dump and pg_restore are those of PG_BINDIR when set, else of the server's major
version (/usr/lib/postgresql/<major>/bin), else of a newer one, else of PATH (never older
than the server); a URL's password goes to them in PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from app.migrate import MIGRATE_LOCK_KEY

FORMAT = "xorj-state-backup"
FORMAT_VERSION = 1
DUMP_FILE = "xorj.dump"
MANIFEST_FILE = "manifest.json"
TRADE_LOG = (("xorj", "trades"), ("xorj", "trade_events"))
BLOCK_ROWS = 65536
CHECKSUM_ALGORITHM = (
    "sha256 of the concatenated sha256 of each block of 65536 rows, a block's being the "
    "sha256 of its rows' concatenated sha256 of their text form (t::text, TimeZone UTC, "
    "DateStyle ISO), rows in the order of id"
)
# The text form of the rows does not depend on the session: these are set for the
# transaction that reads them.
TEXT_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres",
                 "extra_float_digits": "1", "bytea_output": "hex"}  # fmt: skip

Say = Callable[[str], None]


class BackupError(Exception):
    """A backup or a restore refused or failed; the message says why."""


# --- the catalog ------------------------------------------------------------------------

_USER_SCHEMAS = """
    user_ns AS (
        SELECT oid, nspname, nspowner, nspacl FROM pg_catalog.pg_namespace
        WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_'
    ),
    ext AS (SELECT classid, objid FROM pg_catalog.pg_depend WHERE deptype = 'e')"""

# The roles a restore of the database needs: owners, grantees and grantors of its objects.
_ROLES = f"""
    WITH {_USER_SCHEMAS},
    objects(owner, acl) AS (
        SELECT n.nspowner, n.nspacl FROM user_ns n
        UNION ALL
    SELECT c.relowner, c.relacl FROM pg_catalog.pg_class c JOIN user_ns n ON n.oid = c.relnamespace
        WHERE NOT EXISTS (SELECT FROM ext WHERE classid = 'pg_class'::regclass AND objid = c.oid)
        UNION ALL
        SELECT c.relowner, a.attacl FROM pg_catalog.pg_attribute a
            JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
            JOIN user_ns n ON n.oid = c.relnamespace
        WHERE a.attacl IS NOT NULL
        UNION ALL
    SELECT p.proowner, p.proacl FROM pg_catalog.pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
        WHERE NOT EXISTS (SELECT FROM ext WHERE classid = 'pg_proc'::regclass AND objid = p.oid)
        UNION ALL
    SELECT t.typowner, t.typacl FROM pg_catalog.pg_type t JOIN user_ns n ON n.oid = t.typnamespace
        WHERE NOT EXISTS (SELECT FROM ext WHERE classid = 'pg_type'::regclass AND objid = t.oid)
        UNION ALL
        SELECT d.defaclrole, d.defaclacl FROM pg_catalog.pg_default_acl d
    ),
    roles(oid) AS (
        SELECT owner FROM objects
        UNION SELECT (aclexplode(acl)).grantee FROM objects WHERE acl IS NOT NULL
        UNION SELECT (aclexplode(acl)).grantor FROM objects WHERE acl IS NOT NULL
    )
    SELECT pg_catalog.pg_get_userbyid(oid) FROM roles WHERE oid <> 0 ORDER BY 1"""

# What makes a database not empty (at most a few of each kind are named).
_CONTENTS = f"""
    WITH {_USER_SCHEMAS}
    SELECT 'schema', quote_ident(n.nspname) FROM user_ns n
    WHERE n.nspname <> 'public'
      AND NOT EXISTS (SELECT FROM ext WHERE classid = 'pg_namespace'::regclass AND objid = n.oid)
    UNION ALL
    SELECT 'relation', format('%I.%I', n.nspname, c.relname)
    FROM pg_catalog.pg_class c JOIN user_ns n ON n.oid = c.relnamespace
    WHERE NOT EXISTS (SELECT FROM ext WHERE classid = 'pg_class'::regclass AND objid = c.oid)
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text
    FROM pg_catalog.pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT FROM ext WHERE classid = 'pg_proc'::regclass AND objid = p.oid)
    UNION ALL
    SELECT 'type', format('%I.%I', n.nspname, t.typname)
    FROM pg_catalog.pg_type t JOIN user_ns n ON n.oid = t.typnamespace
    WHERE t.typrelid = 0 AND t.typelem = 0
      AND NOT EXISTS (SELECT FROM ext WHERE classid = 'pg_type'::regclass AND objid = t.oid)
    LIMIT 20"""

# The tables counted: every table of schema xorj, a partitioned one counted as a whole.
_TABLES = """
    SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'xorj' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    ORDER BY 1, 2"""

_CHECKSUM = """
    WITH rows AS (
        SELECT sha256(convert_to(t::text, 'UTF8')) AS h, row_number() OVER (ORDER BY t.id) - 1 AS n
        FROM {table} t
    ), blocks AS (
        SELECT n / {block} AS b, sha256(string_agg(h, ''::bytea ORDER BY n)) AS h
        FROM rows GROUP BY 1
    )
    SELECT encode(sha256(coalesce(string_agg(h, ''::bytea ORDER BY b), ''::bytea)), 'hex')
    FROM blocks"""


def figures(conn: psycopg.Connection) -> dict[str, Any]:
    """Counts, checksums and migrations, read in the connection's current transaction."""
    for name, value in TEXT_SETTINGS.items():
        conn.execute("SELECT pg_catalog.set_config(%s, %s, true)", (name, value))
    tables: dict[str, int] = {}
    for schema, table in conn.execute(_TABLES).fetchall():
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        tables[f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
    checksums: dict[str, str] = {}
    for schema, table in TRADE_LOG:
        query = sql.SQL(_CHECKSUM).format(
            table=sql.Identifier(schema, table), block=sql.Literal(BLOCK_ROWS)
        )
        checksums[f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
    migrations: list[str] = []
    if conn.execute("SELECT to_regclass('public._yoyo_migration') IS NOT NULL").fetchone()[0]:
        query = "SELECT migration_id FROM public._yoyo_migration ORDER BY migration_id"
        migrations = [row[0] for row in conn.execute(query)]
    return {"tables": tables, "checksums": checksums, "migrations": migrations}


# --- the client binaries ----------------------------------------------------------------


def client_binary(name: str, major: int) -> tuple[str, str]:
    """(path, version line) of `name` (pg_dump, pg_restore): of PG_BINDIR if set, of
    PostgreSQL `major`, of the nearest newer one installed, else of PATH; the first that
    is not older than `major`."""
    installed = sorted(
        (int(m.group(1)), f"{bindir}/{name}")
        for bindir in glob.glob("/usr/lib/postgresql/*/bin")
        if (m := re.search(r"/(\d+)/bin$", bindir)) and int(m.group(1)) >= major
    )
    bindir = os.environ.get("PG_BINDIR")  # the project's choice of binaries, if set
    first = [f"{bindir}/{name}"] if bindir else []
    for candidate in [*first, *(path for _, path in installed), shutil.which(name) or name]:
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True)
        except OSError:
            continue
        m = re.search(r"\(PostgreSQL\)\s+(\d+)", out.stdout)
        if out.returncode == 0 and m and int(m.group(1)) >= major:
            return candidate, out.stdout.strip()
    raise BackupError(
        f"no {name} of PostgreSQL {major} or newer found (looked in /usr/lib/postgresql/*/bin "
        f"and PATH): install the client of the server's version (postgresql-client-{major})"
    )


def _libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """The URL as a conninfo without its password, and the environment with the password
    in PGPASSWORD (never on a command line)."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**params), env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise BackupError(f"{what} failed ({proc.returncode}): " + " | ".join(lines[-5:]))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _connect(url: str, what: str) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=10)
    except psycopg.OperationalError as exc:
        text = " ".join(str(exc).split())
        raise BackupError(f"cannot reach the {what}: {text}") from None


# --- backup -----------------------------------------------------------------------------


def _prepare_out(out: Path) -> bool:
    """Refuse an existing non-empty directory (or a file); make the directory (0700).
    Returns whether it was made here."""
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise BackupError(f"backup: {out} exists and is not a directory")
        if any(out.iterdir()):
            raise BackupError(f"backup: {out} is not empty: give a new or empty directory")
        return False
    try:
        out.mkdir(mode=0o700, parents=True)
    except OSError as exc:
        raise BackupError(f"backup: cannot create {out}: {exc.strerror}") from None
    return True


def backup(url: str, out: Path, say: Say = print) -> dict[str, Any]:
    """Back the database of `url` (the owner's) up into the new directory `out`.
    Returns the manifest."""
    made = _prepare_out(out)
    dump, manifest_path = out / DUMP_FILE, out / MANIFEST_FILE
    try:
        manifest = _backup(url, dump)
        manifest["dump"]["sha256"] = _sha256_file(dump)
        manifest["dump"]["bytes"] = dump.stat().st_size
        partial = out / (MANIFEST_FILE + ".part")
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, manifest_path)
    except BaseException:
        for path in (dump, out / (MANIFEST_FILE + ".part"), manifest_path):
            path.unlink(missing_ok=True)
        if made:
            shutil.rmtree(out, ignore_errors=True)
        raise
    for table, count in manifest["tables"].items():
        say(f"{table:<28} {count:>10} rows")
    say(f"migrations: {len(manifest['migrations'])} applied")
    say(f"snapshot of {manifest['created_at']} (PostgreSQL {manifest['server_version']})")
    say(f"dump: {dump} ({manifest['dump']['bytes']} bytes, sha256 {manifest['dump']['sha256']})")
    say(f"manifest: {manifest_path}")
    return manifest


def _backup(url: str, dump: Path) -> dict[str, Any]:
    with _connect(url, "database") as conn:
        if not conn.execute("SELECT to_regnamespace('xorj') IS NOT NULL").fetchone()[0]:
            raise BackupError("backup: the database has no schema xorj: migrate it first")
        server_version_num = conn.info.server_version
        pg_dump, pg_dump_version = client_binary("pg_dump", server_version_num // 10000)
        # The exporting transaction must outlive pg_dump's start: no timeout may end it.
        conn.execute("SET idle_in_transaction_session_timeout = 0")
        conn.execute("SET statement_timeout = 0")
        conn.execute("SELECT pg_advisory_lock_shared(%s)", (MIGRATE_LOCK_KEY,))
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            created_at, database, owner, server_version = conn.execute(
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
                " current_database(), pg_get_userbyid(n.nspowner),"
                " current_setting('server_version')"
                " FROM pg_namespace n WHERE n.nspname = 'xorj'"
            ).fetchone()
            roles = [row[0] for row in conn.execute(_ROLES)]
            contents = figures(conn)
            conninfo, env = _libpq_args(url)
            argv = [pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot}"]
            _run([*argv, f"--file={dump}", f"--dbname={conninfo}"], env, "pg_dump")
            conn.execute("COMMIT")
        finally:
            if not conn.closed and not conn.broken:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                conn.execute("SELECT pg_advisory_unlock_shared(%s)", (MIGRATE_LOCK_KEY,))
    os.chmod(dump, 0o600)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": created_at,
        "database": database,
        "server_version": server_version,
        "server_version_num": server_version_num,
        "pg_dump": pg_dump_version,
        "owner": owner,
        "roles": roles,
        "migrations": contents["migrations"],
        "tables": contents["tables"],
        "checksum_algorithm": CHECKSUM_ALGORITHM,
        "checksums": contents["checksums"],
        "dump": {"file": DUMP_FILE, "format": "custom"},
    }


# --- restore ----------------------------------------------------------------------------

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a backup directory, checked; BackupError naming what is wrong."""
    if not directory.is_dir():
        raise BackupError(f"restore: no backup directory {directory}")
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise BackupError(f"restore: {directory} has no {MANIFEST_FILE}: not a complete backup")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"restore: bad manifest {path}: not JSON ({exc})") from None

    def bad(why: str) -> BackupError:
        return BackupError(f"restore: bad manifest {path}: {why}")

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad(f"not a {FORMAT} manifest")
    names = lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)  # noqa: E731
    checks = (
        ("format_version", lambda v: v == FORMAT_VERSION, f"must be {FORMAT_VERSION}"),
        ("dump", lambda v: isinstance(v, dict) and v.get("file") == DUMP_FILE
         and isinstance(v.get("sha256"), str) and _HEX64.match(v["sha256"]),
         f"must name {DUMP_FILE} and its sha256 (64 hexadecimal digits)"),
        ("tables", lambda v: isinstance(v, dict)
         and all(type(n) is int and n >= 0 for n in v.values()), "must map tables to row counts"),
        ("checksums", lambda v: isinstance(v, dict)
         and all(isinstance(h, str) and _HEX64.match(h) for h in v.values()),
         "must map tables to sha256 digests"),
        ("migrations", names, "must be a list of names"),
        ("roles", names, "must be a list of names"),
        ("owner", lambda v: isinstance(v, str) and v, "must be a role name"),
        ("server_version_num", lambda v: type(v) is int, "must be a number"),
    )  # fmt: skip
    for key, ok, why in checks:
        if not ok(manifest.get(key)):
            raise bad(f"{key} {why}")
    return manifest


def _check_target(conn: psycopg.Connection, manifest: dict[str, Any]) -> None:
    """Refuse a target that is not empty, older than the backup's server, without the
    roles, or whose login cannot own what the backup's owner owned."""
    found = conn.execute(_CONTENTS).fetchall()
    if found:
        database = conn.info.dbname
        named = ", ".join(f"{kind} {name}" for kind, name in found[:8])
        more = " and more" if len(found) > 8 else ""
        yoyo = any(kind == "relation" and "yoyo" in name for kind, name in found)
        raise BackupError(
            f"restore: the target database {database} is not empty ({named}{more})"
            + (": it has yoyo's migration tables, it was migrated" if yoyo else "")
            + "; restore into a new empty database (CREATE DATABASE ... OWNER "
            f"{manifest['owner']})"
        )
    source, target = manifest["server_version_num"] // 10000, conn.info.server_version // 10000
    if target < source:
        raise BackupError(
            f"restore: the target server is PostgreSQL {target}, older than the backup's "
            f"({source}): restore into PostgreSQL {source} or newer"
        )
    present = {row[0] for row in conn.execute("SELECT rolname FROM pg_catalog.pg_roles")}
    missing = [r for r in manifest["roles"] if r not in present]
    if missing:
        raise BackupError(
            "restore: the target cluster lacks the roles " + ", ".join(missing) + ": roles "
            "are cluster-wide and not in a dump; create them first (as a DBA, CREATE ROLE "
            "... with the attributes of the original cluster: the owner LOGIN CREATEROLE, "
            "xorj_api, xorj_engine, xorj_bot, xorj_readonly NOLOGIN, xorj_app LOGIN "
            "NOINHERIT member of those four)"
        )
    login, can_own, can_create = conn.execute(
        "SELECT current_user, pg_has_role(current_user, %s, 'MEMBER'),"
        " has_database_privilege(current_database(), 'CREATE')",
        (manifest["owner"],),
    ).fetchone()
    if not can_own:
        raise BackupError(
            f"restore: the target login {login} cannot act as the backup's owner "
            f"{manifest['owner']}: log in as {manifest['owner']} (or a superuser)"
        )
    if not can_create:
        raise BackupError(
            f"restore: the target login {login} may not create schemas in the database "
            f"{conn.info.dbname}: make {login} its owner (or grant it CREATE)"
        )


def restore(directory: Path, target_url: str, say: Say = print) -> None:
    """Restore the backup of `directory` into the empty database of `target_url`, then
    verify it against the manifest (BackupError on any difference)."""
    manifest = read_manifest(directory)
    dump = directory / DUMP_FILE
    if not dump.is_file():
        raise BackupError(f"restore: {directory} has no {DUMP_FILE}")
    digest = _sha256_file(dump)
    if digest != manifest["dump"]["sha256"]:
        raise BackupError(
            f"restore: {dump} does not match its manifest (sha256 {digest}, the manifest "
            f"says {manifest['dump']['sha256']}): the dump is damaged or was changed"
        )
    say(f"dump verified: sha256 {digest}")
    with _connect(target_url, "target database") as conn:
        _check_target(conn, manifest)
        major = max(conn.info.server_version, manifest["server_version_num"]) // 10000
    pg_restore, version = client_binary("pg_restore", major)
    conninfo, env = _libpq_args(target_url)
    argv = [pg_restore, "--single-transaction", "--exit-on-error", "--no-password"]
    _run([*argv, f"--dbname={conninfo}", str(dump)], env, "pg_restore")
    say(f"restored with {version} (one transaction)")
    verify(target_url, manifest, say)
    # The feed api.bot_state_changes pages by the writing cluster's transaction ids: in
    # another cluster they would come from its future, handed out again on every read.
    # Restored events go before every cursor of this cluster (bots restart afterwards).
    with _connect(target_url, "restored database") as conn, conn.transaction():
        n = conn.execute("UPDATE xorj.bot_state_events SET txid = '0' WHERE txid <> '0'").rowcount
    say(f"bot-state feed: {n} restored event(s) placed before every cursor of this cluster")


def verify(url: str, manifest: dict[str, Any], say: Say = print) -> None:
    """Compare the database's counts, checksums and migrations with the manifest's,
    printing each table's; BackupError listing every difference."""
    with _connect(url, "restored database") as conn:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            found = figures(conn)
        problems: list[str] = []
        expected: dict[str, int] = manifest["tables"]
        for table in sorted(set(expected) | set(found["tables"])):
            want, got = expected.get(table), found["tables"].get(table)
            if want == got:
                say(f"{table:<28} {got:>10} rows  verified")
            else:
                say(f"{table:<28} {got!s:>10} rows  MISMATCH: the backup has {want}")
                problems.append(f"{table} has {got} rows, the backup {want}")
        for table in sorted(set(manifest["checksums"]) | set(found["checksums"])):
            want, got = manifest["checksums"].get(table), found["checksums"].get(table)
            if want == got:
                say(f"checksum {table:<19} verified (sha256 {got})")
            else:
                say(f"checksum {table:<19} MISMATCH: {got}, the backup {want}")
                problems.append(f"the checksum of {table} differs")
        if found["migrations"] == manifest["migrations"]:
            say(f"migrations: {len(found['migrations'])} applied, verified")
        else:
            problems.append(
                f"migrations {found['migrations']} differ from the backup's "
                f"{manifest['migrations']}"
            )
        if problems:
            raise BackupError(
                "restore: the restored database does not match the backup, do not use it: "
                + "; ".join(problems)
            )
        for table in found["tables"]:
            schema, name = table.split(".", 1)
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, name)))
    say(
        f"restore verified: {sum(expected.values())} rows in {len(expected)} tables, as of "
        f"{manifest.get('created_at')}"
    )
