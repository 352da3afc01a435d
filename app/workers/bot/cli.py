"""`xorj bot run` and `xorj bot recover`: options, the chain, the database door, signals
and the bot's own metrics."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.chain.base import Chain, ChainError, Signer
from app.config import database_urls
from app.dbapi.core import one_line
from app.dbapi.sync import Stopped, SyncDatabase
from app.workers.bot.base import (
    CLAIM_BATCH,
    CRASH_ENV,
    CRASH_POINTS,
    DEFAULT_PLANNER,
    MAX_UNKNOWN_AGE_SECONDS,
    RESOLUTIONS,
    RPC_VENUES,
    SIM_VENUE,
    STATE_POLL_SECONDS,
    STOP_GRACE_SECONDS,
    BotOptions,
    JsonLog,
    StopFlag,
    load_planner,
)
from app.workers.bot.heartbeat import Heartbeat
from app.workers.bot.protocol import Bot
from app.workers.bot.recovery import (
    EXIT_CHAIN_UNAVAILABLE,
    EXIT_ERROR,
    EXIT_USAGE,
    RECOVER_EXIT_CODES,
)

# --- the command line ------------------------------------------------------------------


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _positive(kind: type[float] | type[int]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {text}")
    return value


def _lease(text: str) -> float:
    value = float(text)
    if not 1.0 <= value <= 3600.0:
        raise argparse.ArgumentTypeError(f"must be 1..3600 seconds, got {text}")
    return value


KEY_VARIABLE = "XORJ_VAULT_AUTHORITY_KEY"
MAKER_VARIABLE = "XORJ_MAKER_KEY"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--chain",
        choices=["sim", "rpc"],
        required=True,
        help="required, no default: sim (the simulated chain; trades recorded with venue "
        "simulated) or rpc (a Solana JSON-RPC endpoint, --rpc-url, with --venue)",
    )
    p.add_argument("--rpc-url", help="the Solana JSON-RPC endpoint (--chain rpc)")
    p.add_argument(
        "--venue",
        choices=RPC_VENUES,
        help="required with --chain rpc: live (the real Solana chain; only live trades count "
        "in a user's performance) or localnet (a local validator); the venue the trades "
        "it creates record (with --chain sim they are simulated)",
    )
    p.add_argument(
        "--keypair",
        metavar="FILE",
        help="--chain rpc: the vault authority's Solana CLI keypair file (mode 0600; it "
        f"signs as the vaults' delegate and pays the fees); else {KEY_VARIABLE} (base58)",
    )
    p.add_argument(
        "--swap",
        choices=["maker"],
        help="--chain rpc: how a swap is built. maker: an atomic two-party token exchange "
        "with --maker-keypair (the offline stand-in; an aggregator's builder plugs in "
        "here, see app/chain/swap.py: untested)",
    )
    p.add_argument(
        "--maker-keypair",
        metavar="FILE",
        help=f"--swap maker: the maker's keypair file (mode 0600); else {MAKER_VARIABLE}",
    )
    p.add_argument(
        "--maker-slippage-bps",
        type=int,
        default=0,
        help="--swap maker: the maker delivers expected x (1 - bps/10000) (default 0)",
    )
    p.add_argument("--sim-seed", type=int, default=0, help="simulated chain seed (default 0)")
    p.add_argument(
        "--sim-state",
        metavar="FILE",
        help="the simulated chain's state file, shared by restarts and other processes",
    )
    p.add_argument(
        "--sim-drop-rate", type=_rate, default=0.0, help="share of sends that never land"
    )
    p.add_argument(
        "--sim-failure-rate", type=_rate, default=0.0, help="share of landed ones that fail"
    )
    p.add_argument(
        "--sim-unavailable-rate",
        type=_rate,
        default=0.0,
        help="share of chain calls that raise ChainUnavailable",
    )
    p.add_argument("--sim-latency", type=float, default=0.0, help="seconds per chain call")
    p.add_argument(
        "--sim-blocks-per-call",
        type=int,
        default=1,
        help="blocks that pass at each look at the height or blockhash (default 1)",
    )
    p.add_argument(
        "--sim-blockhash-validity", type=int, default=150, help="in blocks (default 150)"
    )
    p.add_argument("--worker-id", help="unique among live bots (default: hostname-pid)")
    p.add_argument(
        "--lease-seconds", type=_lease, default=30.0, help="trade claim lease (default 30)"
    )
    p.add_argument(
        "--poll-seconds",
        type=_positive(float),
        default=0.5,
        help="seconds between two looks at in-flight trades (default 0.5)",
    )
    p.add_argument(
        "--claim-batch",
        type=_positive(int),
        default=CLAIM_BATCH,
        help=f"trades taken per api.claim_trades call of a claim pass (default {CLAIM_BATCH})",
    )
    p.add_argument(
        "--state-poll-seconds",
        type=_positive(float),
        default=STATE_POLL_SECONDS,
        help="how often bot state changes (a disable) are read when LISTEN is not available "
        f"(no DATABASE_DIRECT_URL: behind a transaction pooler); default {STATE_POLL_SECONDS:g}",
    )
    p.add_argument(
        "--stop-grace-seconds",
        type=_positive(float),
        default=STOP_GRACE_SECONDS,
        help="after SIGTERM, end the process if it has not stopped this long after "
        f"(default {STOP_GRACE_SECONDS:g})",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics on this port (default: none)",
    )
    p.add_argument(
        "--metrics-host", default="127.0.0.1", help="address of --metrics-port (default 127.0.0.1)"
    )
    p.add_argument(
        "--max-unknown-age-seconds",
        type=_positive(float),
        default=MAX_UNKNOWN_AGE_SECONDS,
        help="a SUBMITTED trade without a recorded last valid block height that is still "
        "not found this long after its submission is FAILED as expired (default "
        f"{MAX_UNKNOWN_AGE_SECONDS:g})",
    )


def register_cli(subparsers: Any) -> None:
    """Add `bot run` and `bot recover` to the `xorj` command's subparsers."""
    bot = subparsers.add_parser("bot", help="the trade execution bot")
    sub = bot.add_subparsers(dest="bot_command", required=True)

    run = sub.add_parser("run", help="recover, then plan, submit and monitor trades each tick")
    _add_common(run)
    run.add_argument("--ticks", type=_positive(int), help="stop after N ticks (default: never)")
    run.add_argument(
        "--tick-seconds", type=float, default=30.0, help="pause between ticks (default 30)"
    )
    run.add_argument(
        "--monitor-timeout-seconds",
        type=_positive(float),
        default=60.0,
        help="how long a tick waits for its trades to be final (default 60); the rest is "
        "carried over to the next tick",
    )
    run.add_argument(
        "--planner",
        default=DEFAULT_PLANNER,
        metavar="MODULE:NAME",
        help=f"the strategy (default {DEFAULT_PLANNER})",
    )
    run.set_defaults(func=cmd_run)

    recover = sub.add_parser(
        "recover",
        help="resolve the unfinished trades once (startup pass), print a summary",
        description="Resolve the unfinished trades nobody holds once (the startup pass of "
        "`bot run`), print a table of resolutions, and say how many trades other live bots "
        "hold and when the first of their leases ends.",
        epilog="exit status:\n"
        + "\n".join(
            textwrap.fill(text, 79, initial_indent=f"  {code}  ", subsequent_indent=" " * 5)
            for code, text in RECOVER_EXIT_CODES
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(recover)
    recover.set_defaults(func=cmd_recover)


def _venue(args: argparse.Namespace) -> str:
    """The venue of the trades this bot creates: simulated for --chain sim; for --chain rpc,
    --venue (required: a local validator must never be taken for the live chain)."""
    if args.chain == "sim":
        if args.venue is not None:
            raise ValueError(f"--venue {args.venue} is for --chain rpc; --chain sim is simulated")
        return SIM_VENUE
    if args.venue is None:
        raise ValueError(f"--chain rpc needs --venue {'|'.join(RPC_VENUES)}")
    return str(args.venue)


def _build_chain(args: argparse.Namespace, need_signer: bool) -> tuple[Chain, Signer | None]:
    if args.chain == "sim":
        from app.chain.sim import SimulatedChain, SimulatedSigner

        chain = SimulatedChain(
            seed=args.sim_seed,
            latency=args.sim_latency,
            drop_rate=args.sim_drop_rate,
            failure_rate=args.sim_failure_rate,
            blocks_per_call=args.sim_blocks_per_call,
            blockhash_validity=args.sim_blockhash_validity,
            state_file=args.sim_state,
            unavailable_rate=args.sim_unavailable_rate,
        )
        return chain, SimulatedSigner()
    if not args.rpc_url:
        raise ValueError("--chain rpc needs --rpc-url")
    from app.chain.base import venue_problem
    from app.chain.rpc import SolanaRpcChain

    signer = _rpc_signer(args) if need_signer else None
    chain = SolanaRpcChain(args.rpc_url, skip_preflight=True)
    try:
        problem = venue_problem(args.venue, chain.get_genesis_hash())
    except BaseException:
        chain.close()
        raise
    if problem is not None:
        chain.close()
        raise ValueError(problem)
    # Preflight skipped: a swap that fails lands with its error and fee, as on mainnet, so
    # the trade is FAILED with the chain's error rather than left to expire.
    return chain, signer


def _rpc_signer(args: argparse.Namespace) -> Signer:
    """The keypair signer of `bot run --chain rpc`: the authority's key and the swap
    builder (ConfigError, a ValueError, for a key that is missing or not private)."""
    from app.chain.keys import load_keypair
    from app.chain.signer import KeypairSigner
    from app.chain.swap import MakerSwap

    if args.swap != "maker":
        raise ValueError(
            "bot run --chain rpc needs --swap maker and --maker-keypair FILE: the only swap "
            "builder shipped (an aggregator's plugs in at app/chain/swap.py)"
        )
    authority = load_keypair(args.keypair)
    maker = load_keypair(args.maker_keypair, variable=MAKER_VARIABLE, what="maker")
    return KeypairSigner(authority, MakerSwap(maker, args.maker_slippage_bps))


def _make_bot(args: argparse.Namespace, need_signer: bool, flag: StopFlag) -> Bot:
    worker = args.worker_id or default_worker_id()
    options = BotOptions(
        worker_id=worker,
        venue=_venue(args),
        lease_seconds=args.lease_seconds,
        monitor_timeout_seconds=getattr(args, "monitor_timeout_seconds", 60.0),
        poll_seconds=args.poll_seconds,
        tick_seconds=getattr(args, "tick_seconds", 30.0),
        ticks=getattr(args, "ticks", None),
        claim_batch=args.claim_batch,
        max_unknown_age_seconds=args.max_unknown_age_seconds,
        state_poll_seconds=args.state_poll_seconds,
    )
    log = JsonLog(worker)
    chain, signer = _build_chain(args, need_signer)
    planner = load_planner(getattr(args, "planner", DEFAULT_PLANNER))
    crash_at = os.environ.get(CRASH_ENV) or None
    if crash_at is not None and crash_at not in CRASH_POINTS:
        raise ValueError(f"{CRASH_ENV} must be one of {', '.join(CRASH_POINTS)}")
    urls = database_urls()
    db = connect(urls.app, worker, options, log, flag.is_set)
    try:
        # LISTEN needs a connection of its own to PostgreSQL itself: the direct URL when
        # one is configured; behind a transaction pooler the feed is polled instead.
        heartbeat_db = connect(urls.direct or urls.app, worker, options, log, flag.is_set)
    except BaseException:
        db.close()
        raise
    heartbeat = Heartbeat(heartbeat_db, options, log, listen=urls.direct is not None)
    bot = Bot(db, heartbeat, chain, signer, planner, options, log, crash_at, flag)
    if getattr(args, "metrics_port", None):
        serve_metrics(bot, args.metrics_host, args.metrics_port)
    return bot


def connect(
    url: str,
    worker: str,
    options: BotOptions,
    log: JsonLog,
    should_stop: Callable[[], bool],
) -> SyncDatabase:
    """The bot's database door: as xorj_bot, named bot:<worker>, every statement limited to
    one lease (SET LOCAL statement_timeout: no startup option, so it holds behind a
    pooler), waiting with a backoff while the database is down or full, until a stop."""

    def report(attempt: int, delay: float, exc: BaseException) -> None:
        log("database_unavailable", attempt=attempt, retry_in=round(delay, 2), error=one_line(exc))

    return SyncDatabase(
        url,
        f"bot:{worker}",
        statement_timeout=options.lease_seconds,
        should_stop=should_stop,
        on_retry=report,
        max_wait=None,
    )


def serve_metrics(bot: Bot, host: str, port: int) -> None:
    """Prometheus metrics of this bot on http://HOST:PORT/metrics (a daemon thread):
    xorj_bot_events_total{event} (every log event: trades created, resolved, skipped,
    chain and database unavailability...), xorj_bot_resolutions_total{resolution},
    xorj_bot_in_flight, xorj_bot_main_thread_idle_seconds."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    class BotCollector(Collector):
        def collect(self) -> Any:
            events = CounterMetricFamily(
                "xorj_bot_events", "Events the bot logged, by event", labels=["event"]
            )
            # dict(...) copies in one step: the main thread keeps counting meanwhile
            for name, count in sorted(dict(bot.log.counts).items()):
                events.add_metric([name], count)
            yield events
            resolutions = CounterMetricFamily(
                "xorj_bot_resolutions",
                "Trades the bot resolved, by resolution",
                labels=["resolution"],
            )
            totals = dict(bot.totals)
            for name in RESOLUTIONS:
                resolutions.add_metric([name], totals.get(name, 0))
            yield resolutions
            in_flight = GaugeMetricFamily("xorj_bot_in_flight", "SUBMITTED trades the bot polls")
            in_flight.add_metric([], len(bot.inflight))
            yield in_flight
            idle = GaugeMetricFamily(
                "xorj_bot_main_thread_idle_seconds", "Seconds since the main thread's last step"
            )
            idle.add_metric([], time.monotonic() - bot.heartbeat.last_progress)
            yield idle

    registry = CollectorRegistry()
    registry.register(BotCollector())
    start_http_server(port, addr=host, registry=registry)
    bot.log("metrics_serving", host=host, port=port)


def _install_signals(flag: StopFlag, grace: float) -> None:
    """SIGTERM and SIGINT set the flag (nothing else); a watchdog thread ends the process
    if it has not stopped `grace` seconds later (a wait the flag cannot reach, such as a
    query stuck behind an exhausted pooler). Ending it there is as safe as a crash: the
    protocol survives SIGKILL at any point."""

    def handler(signum: int, _frame: object) -> None:
        flag.name = signal.Signals(signum).name

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

    def watchdog() -> None:
        while not flag.is_set():
            time.sleep(0.2)
        time.sleep(grace)
        line = json.dumps(
            {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "event": "stop_grace_exceeded",
                "grace_seconds": grace,
            }
        )
        os.write(2, (line + "\n").encode())
        os._exit(1)

    threading.Thread(target=watchdog, name="bot-stop-watchdog", daemon=True).start()


def _close(bot: Bot) -> None:
    bot.db.close()
    bot.heartbeat.close()
    close = getattr(bot.chain, "close", None)
    if callable(close):
        close()


def cmd_run(args: argparse.Namespace) -> int:
    flag = StopFlag()
    _install_signals(flag, args.stop_grace_seconds)  # before connecting: a wait is stoppable
    try:
        bot = _make_bot(args, need_signer=True, flag=flag)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"xorj bot run: {exc}", file=sys.stderr)
        return 2
    except ChainError as exc:  # could not ask the endpoint which chain it serves
        print(f"xorj bot run: {one_line(exc)}", file=sys.stderr)
        return 1
    except Stopped:
        return 0
    try:
        return bot.run()
    finally:
        _close(bot)


def cmd_recover(args: argparse.Namespace) -> int:
    flag = StopFlag()
    _install_signals(flag, args.stop_grace_seconds)
    try:
        bot = _make_bot(args, need_signer=False, flag=flag)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"xorj bot recover: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ChainError as exc:
        print(f"xorj bot recover: {one_line(exc)}", file=sys.stderr)
        return EXIT_CHAIN_UNAVAILABLE
    except Stopped:
        print(f"xorj bot recover: stopped by {flag.name} before the pass", file=sys.stderr)
        return EXIT_ERROR
    try:
        report = bot.recover_once()
    except Stopped:
        print(f"xorj bot recover: stopped by {flag.name} during the pass", file=sys.stderr)
        return EXIT_ERROR
    finally:
        _close(bot)
    print(report.summary())
    return report.exit_code()
