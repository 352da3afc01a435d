"""The Trade Execution Bot: `xorj bot run` and `xorj bot recover`.

Every rule lives in the database (procedures/trades*.sql, jobs.sql, bot_states.sql);
this worker only sequences calls so that each trade intent reaches the chain at most
once, and a crash at any instant leaves a state a later run resolves without a second
broadcast. The protocol, its diagram, recovery, several bots and stopping are described
in the README ("The execution bot and the engine loader").

    base.py       constants, the stop flag, the JSON log, options, the in-flight record
    heartbeat.py  the second thread: bot state feed (or LISTEN), claim renewal, heartbeat
    protocol.py   the Bot: recovery pass, ticks, create -> sign -> SUBMITTED -> broadcast
    recovery.py   claiming and resolving unfinished trades (a part of the Bot)
    monitor.py    polling the chain and settling SUBMITTED trades (a part of the Bot)
    cli.py        the command line: options, chain, door, signals, metrics
"""

from app.workers.bot.base import (
    NEVER_BROADCAST,
    BotOptions,
    InFlight,
    JsonLog,
    StopFlag,
    expired_message,
    load_bots,
    load_traders,
)
from app.workers.bot.cli import connect, register_cli
from app.workers.bot.heartbeat import Heartbeat
from app.workers.bot.protocol import Bot

__all__ = [
    "NEVER_BROADCAST",
    "Bot",
    "BotOptions",
    "Heartbeat",
    "InFlight",
    "JsonLog",
    "StopFlag",
    "connect",
    "expired_message",
    "load_bots",
    "load_traders",
    "register_cli",
]
