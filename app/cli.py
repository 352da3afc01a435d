"""The `xorj` command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack

import psycopg

from app import devdb, migrate
from app.config import (
    APP_LOGIN,
    ConfigError,
    configured,
    database_urls,
    load_env_files,
    use_private,
    yoyo_url,
)
from app.dbapi.core import PrivilegedLogin, one_line
from app.dbapi.sync import Stopped, SyncDatabase


class CliError(Exception):
    """An error to print without a traceback; exit status 1."""


def _print_url(url: str, as_yoyo: bool) -> None:
    print(yoyo_url(url) if as_yoyo else url)


def cmd_dev_db(args: argparse.Namespace) -> int:
    if args.action == "start":
        cluster, started = devdb.start()
        print(f"{'started' if started else 'already running'}: PostgreSQL in {cluster.base}")
        print(f"socket directory: {cluster.socket_dir}")
        print(f"database URL (owner, migrations): {cluster.url()}")
        print(f"database URL (application login): {cluster.url(APP_LOGIN)}")
        print("stop it with: xorj dev-db stop   (or: make stop)")
        return 0
    if args.action == "stop":
        print("stopped" if devdb.stop() else "not running")
        return 0
    if args.action == "destroy":
        devdb.destroy()
        print("stopped and deleted")
        return 0
    cluster = devdb.locate()
    running = devdb.is_running(cluster)
    if args.action == "status":
        print(f"{'running' if running else 'not running'}: data in {cluster.base}")
        if running:
            print(f"database URL (owner): {cluster.url()}")
        return 0 if running else 3
    # url
    if args.superuser:
        user, db = devdb.SUPERUSER, "postgres"
    elif args.app:
        user, db = APP_LOGIN, devdb.DATABASE
    else:
        user, db = devdb.OWNER, devdb.DATABASE
    _print_url(cluster.url(user, db), args.yoyo)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    if args.action in ("backup", "restore"):
        return cmd_backup_restore(args)
    urls = database_urls()
    url = urls.app
    if args.action == "url":
        _print_url(urls.migrations if (args.migrations or args.yoyo) else urls.app, args.yoyo)
    elif args.action == "migrate":
        result = migrate.migrate(urls.migrations)
        if result.applied:
            print(f"applied {len(result.applied)} migration(s): {', '.join(result.applied)}")
        else:
            print("no migration pending")
        print(f"re-applied {len(result.code_files)} code file(s) from procedures/ and views/")
        password = os.environ.get("XORJ_APP_PASSWORD", "")
        if password:
            migrate.set_login_password(urls.migrations, APP_LOGIN, password)
            print(f"set the password of the login {APP_LOGIN} (from XORJ_APP_PASSWORD)")
    elif args.action == "rollback":
        rolled = migrate.rollback(urls.migrations)
        print(f"rolled back {rolled}" if rolled else "nothing to roll back")
    elif args.action == "status":
        for mid, applied in migrate.status(urls.migrations):
            print(f"{'applied' if applied else 'pending'}  {mid}")
    elif args.action == "maintain":
        from app.maintain import MaintainError, maintain

        try:
            lines = maintain(urls.migrations, args.keep_runs, args.keep_days)
        except MaintainError as exc:
            raise CliError(f"db maintain: {exc}") from None
        for line in lines:
            print(line)
    elif args.action == "archive":
        from pathlib import Path

        from app.archive import ArchiveError, archive

        if not args.before or not args.out:
            raise CliError("db archive: give --before YYYY-MM and --out DIR")
        try:
            lines = archive(urls.migrations, args.before, Path(args.out), args.dry_run)
        except ArchiveError as exc:
            print("\n".join(exc.lines), end="\n" if exc.lines else "")
            raise CliError(f"db archive: {exc}") from None
        for line in lines:
            print(line)
    elif args.action == "seed":
        if not (args.sample_data or args.traders or args.trades):
            raise CliError("db seed: say what to load (--sample-data, --traders N, --trades M)")
        from app.seed import check_volume, load_sample_data

        try:
            check_volume(args.traders, args.trades)  # before anything is loaded
        except ValueError as exc:
            raise CliError(f"db seed: {exc}") from None

        if args.sample_data:
            for line in load_sample_data(url).lines:
                print(line)
        if args.traders or args.trades:
            from app.seed_bulk import volume

            # COPY as the owner (MIGRATION_DATABASE_URL) when it may write the tables,
            # else one api call per trade (generate_volume)
            lines = volume(url, urls.migrations, args.traders, args.trades, sys.stderr.isatty())
            for line in lines:
                print(line)
    return 0


def cmd_backup_restore(args: argparse.Namespace) -> int:
    """`db backup --out DIR` (as the owner) and `db restore --from DIR --target-url URL`."""
    from pathlib import Path

    from app.backup import BackupError, backup, restore

    try:
        if args.action == "backup":
            if not args.out:
                raise CliError("db backup: say where with --out DIR (a new or empty directory)")
            backup(database_urls().migrations, Path(args.out))
        else:
            if not args.from_dir or not args.target_url:
                raise CliError("db restore: give --from DIR and --target-url URL")
            restore(Path(args.from_dir), args.target_url)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.auth import auth_config
    from app.http_protocol import NoDelayH11Protocol
    from app.metrics import MULTIPROC_ENV
    from app.server import configure_logging

    auth_config()  # refuse to start without a key, before any worker starts
    check_app_login(database_urls().app)  # nor as the owner or a superuser
    configure_logging()
    with ExitStack() as stack:
        if args.workers > 1:
            # The workers share their metrics through files in a private directory
            # (prometheus_client's multiprocess mode, read at import in each worker).
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="xorj-metrics-"))
            os.environ[MULTIPROC_ENV] = directory
            stack.callback(os.environ.pop, MULTIPROC_ENV, None)
        uvicorn.run(
            "app.server:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            http=NoDelayH11Protocol,  # TCP_NODELAY with --workers N too (app/http_protocol.py)
            log_level="warning",
            access_log=False,
            proxy_headers=False,
        )
    return 0


def check_app_login(url: str) -> None:
    """Refuse (PrivilegedLogin) a login that is a superuser or owns the tables; a database
    that cannot be reached now is not an error (the process waits for it)."""
    try:
        SyncDatabase(url, "serve:check", role="xorj_readonly").close()  # checks the login
    except psycopg.OperationalError:
        return


def cmd_token(args: argparse.Namespace) -> int:
    from app.auth import auth_config, issue

    print(issue(auth_config(), wallet=args.wallet, role=args.role, ttl=args.ttl))
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; `command`: register only the group of that command, when it is one."""
    parser = argparse.ArgumentParser(prog="xorj", description="xorj-state command line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("dev-db", help="the project's own PostgreSQL cluster")
    p.add_argument("action", choices=["start", "stop", "status", "url", "destroy"])
    p.add_argument("--superuser", action="store_true", help="url: the superuser's URL")
    p.add_argument(
        "--app", action="store_true", help=f"url: the application login's ({APP_LOGIN}) URL"
    )
    p.add_argument("--yoyo", action="store_true", help="url: in yoyo's form")
    p.set_defaults(func=cmd_dev_db)

    p = sub.add_parser("db", help="migrations of the configured database")
    p.add_argument(
        "action",
        choices=[
            "migrate",
            "rollback",
            "status",
            "url",
            "seed",
            "maintain",
            "backup",
            "restore",
            "archive",
        ],
    )
    p.add_argument(
        "--migrations", action="store_true", help="url: the owner's URL (migrations) instead"
    )
    p.add_argument("--yoyo", action="store_true", help="url: the owner's URL in yoyo's form")
    p.add_argument(
        "--sample-data", action="store_true", help="seed: the original system's sample data"
    )
    p.add_argument("--traders", type=int, default=0, help="seed: a completed run of N traders")
    p.add_argument("--trades", type=int, default=0, help="seed: M trades of several users")
    p.add_argument(
        "--keep-runs",
        type=int,
        metavar="N",
        help="maintain: keep the scores of the last N completed runs (xorj.settings otherwise)",
    )
    p.add_argument(
        "--keep-days",
        type=int,
        metavar="D",
        help="maintain: keep the scores of runs younger than D days (xorj.settings otherwise)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="backup: a new or empty directory; archive: where to write"
    )
    p.add_argument("--before", metavar="YYYY-MM", help="archive: the closed months before this one")
    p.add_argument(
        "--dry-run", action="store_true", help="archive: write and verify the files, drop nothing"
    )
    p.add_argument("--from", dest="from_dir", metavar="DIR", help="restore: a backup directory")
    p.add_argument(
        "--target-url", metavar="URL", help="restore: an empty database (its owner's URL)"
    )
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("serve", help="serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("token", help="print a signed token for local use")
    p.add_argument("--wallet", help="the user's wallet (required for a user token)")
    p.add_argument("--role", choices=["engine", "bot"], help="a service token instead")
    p.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    p.set_defaults(func=cmd_token)

    # The workers' command groups (bot, engine, trades and jobs, localnet), each imported
    # only when its command is run (or for the whole help): a process of `xorj engine
    # load` does not pay for the bot's and the validator's imports at its start.
    for module in _GROUPS.get(command, _ALL_GROUPS):
        importlib.import_module(module).register_cli(sub)
    return parser


# The module that registers each command group (its register_cli(subparsers)).
_GROUPS = {
    **dict.fromkeys(("dev-db", "db", "serve", "token"), ()),  # this module's own
    "bot": ("app.workers.bot",),
    "engine": ("app.workers.engine",),
    "trades": ("app.workers.ops",),
    "jobs": ("app.workers.ops",),
    "localnet": ("app.chain.localnet",),  # `localnet serve`: a local validator (LiteSVM)
}
_ALL_GROUPS = ("app.workers.bot", "app.workers.engine", "app.workers.ops", "app.chain.localnet")


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named first in argv (its first argument not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def use_private_cluster_when_none_configured() -> None:
    """With no database named, the project's own cluster, when it runs, becomes the
    database of this process and its children (app.config.use_private)."""
    if configured():
        return
    cluster = devdb.locate()
    if devdb.is_running(cluster):
        use_private(cluster.url(APP_LOGIN), cluster.url())


def main(argv: Sequence[str] | None = None) -> int:
    load_env_files()  # .env.local and .env of the current directory; the environment wins
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
    try:
        if args.command != "dev-db":
            use_private_cluster_when_none_configured()
        return args.func(args)
    except (CliError, ConfigError, devdb.DevDbError, PrivilegedLogin) as exc:
        print(f"xorj: {exc}", file=sys.stderr)
        return 1
    except Stopped:
        return 0
    except psycopg.OperationalError as exc:
        print(f"xorj: cannot reach the database: {one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
