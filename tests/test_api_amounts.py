"""Exact u64 amounts over real HTTP: the contract of every amount field of the bot's trade
endpoints, against `xorj serve` as a real process and a real migrated database.

Amount fields: amount_in and expected_amount_out (POST /internal/trades),
actual_amount_out and gas_fee (POST /internal/trades/{id}/confirmed), gas_fee
(POST /internal/trades/{id}/failed). An amount is a JSON integer token or a JSON string of
ASCII digits only, in 0..2^64-1 (amount_in also > 0: procedures/trades_create.sql calls
xorj.check_u64('amount_in', ..., true)). An accepted amount is stored exactly (the trade
read back shows it as the exact decimal string); a refused one is 422 with "field" naming
it and writes nothing.

The request bodies are raw JSON text (never json.dumps of Python floats), so that literals
such as 9007199254740993.0 and 1.00000000000000000001 go on the wire as written.

One server and one database for the module; every case uses a fresh token pair and
client_order_id (the duplicate rules never trip), and the refused values on /confirmed
and /failed reuse one SUBMITTED trade, which each refusal must leave SUBMITTED.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from app.auth import auth_config, issue
from tests import dbutil
from tests.conftest import TEST_JWT_SECRET, app_url_of, report_figures
from tests.solana import address, signature
from tests.test_api_http import serve

FROM_TOKEN = address(70_000)
VAULT = address(70_001)
OWNER = address(70_002)
_pairs = itertools.count(71_000)
_signatures = itertools.count(72_000)

# --- the values ------------------------------------------------------------------------

# Accepted, as JSON integer tokens and as JSON strings: the text on the wire -> the
# exact decimal string the trade shows.
_ACCEPTED_DIGITS = (
    "0",
    "1",
    "9007199254740993",  # 2^53 + 1: not a double
    "9223372036854775807",  # 2^63 - 1
    "9223372036854775808",  # 2^63: not a bigint
    "18446744073709551615",  # 2^64 - 1
)
ACCEPTED: list[tuple[str, str]] = [(d, d) for d in _ACCEPTED_DIGITS] + [
    (json.dumps(d), d) for d in _ACCEPTED_DIGITS
]

# Refused with 422 and the field's name.
_REFUSED_TEXTS = (
    "18446744073709551616",  # 2^64
    "-1",
    "1.5",
    "1e3",
    "1000000000000000000000000000000",  # 10^30
    "9007199254740993.0",  # a float literal that a double rounds to 2^53
    "1.00000000000000000001",  # a double rounds it to 1
    "1.0",
)
REFUSED: list[str] = [
    *_REFUSED_TEXTS,  # as JSON numbers
    *(json.dumps(t) for t in _REFUSED_TEXTS),  # as JSON strings
    '""',
    '" 1"',
    '"1 "',
    '"+1"',
    '"\\u0663"',  # ARABIC-INDIC DIGIT THREE, escaped
    '"\u0663"',  # the same digit as raw UTF-8
    '"1\\n"',  # a trailing newline (a regex's $ lets it through)
]
# Other JSON types: 400 or 422, with the field's name. null only where the amount is required.
OTHER_TYPES = ["true", "[]", "{}"]
REQUIRED_ONLY = ["null"]


# --- the server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_db_url(template_db: str, owner_role: str) -> Iterator[str]:
    name = f"test_{os.getpid()}_api_amounts"
    dbutil.create_database(name, owner_role, template=template_db)
    try:
        yield dbutil.url_for(name, owner_role)
    finally:
        dbutil.drop_database(name)


@dataclass
class Bot:
    """The bot's client on the running server, with a RUNNING job and an enabled vault."""

    client: httpx.Client
    db_url: str
    headers: dict[str, str]
    job_id: str = ""
    figures: dict[str, int] = field(default_factory=dict)

    def post_raw(self, path: str, text: str) -> httpx.Response:
        return self.client.post(
            path,
            content=text.encode(),
            headers={**self.headers, "Content-Type": "application/json"},
        )

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers)

    def get_trade(self, trade_id: str) -> dict[str, Any]:
        response = self.client.get(f"/internal/trades/{trade_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def new_trade(self, submitted: bool = False) -> str:
        n = next(_pairs)
        text = raw_body(trade_fields(self.job_id, n, '"1000"', "2500"))
        created = self.post_raw("/internal/trades", text)
        assert created.status_code == 201, created.text
        trade_id = created.json()["trade"]["id"]
        if submitted:
            sent = self.post(
                f"/internal/trades/{trade_id}/submitted",
                {
                    "transaction_signature": signature(next(_signatures)),
                    "last_valid_block_height": 1000,
                },
            )
            assert sent.status_code == 200, sent.text
            assert sent.json()["trade"]["status"] == "SUBMITTED"
        return trade_id

    def trades_with_order_id(self, client_order_id: str) -> int:
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM xorj.trades WHERE client_order_id = %s", (client_order_id,)
            ).fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def bot(module_db_url: str) -> Iterator[Bot]:
    config = auth_config({"JWT_SECRET": TEST_JWT_SECRET})
    bot_headers = {"Authorization": f"Bearer {issue(config, role='bot')}"}
    owner_headers = {"Authorization": f"Bearer {issue(config, wallet=OWNER)}"}
    with serve(app_url_of(module_db_url)) as server:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            enabled = client.post(
                "/api/bot/enable", json={"vaultAddress": VAULT}, headers=owner_headers
            )
            assert enabled.status_code == 200, enabled.text
            assert enabled.json()["status"]["canTrade"] is True
            created = client.post(
                "/internal/execution-jobs",
                json={"trigger_reason": "SCHEDULED_RUN"},
                headers=bot_headers,
            )
            assert created.status_code == 201, created.text
            job_id = created.json()["id"]
            started = client.post(
                f"/internal/execution-jobs/{job_id}/start",
                json={"worker_id": "amounts"},
                headers=bot_headers,
            )
            assert started.status_code == 200, started.text
            yield Bot(client, module_db_url, bot_headers, job_id)
        assert "Traceback" not in server.output(), server.output()


# --- raw JSON bodies -------------------------------------------------------------------


def raw_body(fields: list[tuple[str, str]]) -> str:
    """A JSON object from (name, JSON text of the value) pairs, the values as written."""
    return "{" + ", ".join(f"{json.dumps(name)}: {text}" for name, text in fields) + "}"


def trade_fields(
    job_id: str, n: int, amount_in: str, expected_amount_out: str
) -> list[tuple[str, str]]:
    """The fields of a trade creation with token pair and client_order_id of their own."""
    return [
        ("job_id", json.dumps(job_id)),
        ("user_vault_address", json.dumps(VAULT)),
        ("client_order_id", json.dumps(f"amounts-{n}")),
        ("from_token_address", json.dumps(FROM_TOKEN)),
        ("to_token_address", json.dumps(address(n))),
        ("amount_in", amount_in),
        ("expected_amount_out", expected_amount_out),
    ]


def _refusal_problems(response: httpx.Response, field_name: str, statuses: tuple[int, ...]) -> str:
    """'' when the response is a refusal with one of `statuses`, the error body and
    "field" == field_name; else what is wrong."""
    if response.status_code not in statuses:
        return f"status {response.status_code} (want {'/'.join(map(str, statuses))})"
    try:
        body = response.json()
    except ValueError:
        return f"status {response.status_code}, body not JSON"
    if not isinstance(body, dict) or body.get("success") is not False:
        return f"status {response.status_code}, not an error body"
    if body.get("field") != field_name:
        return f"status {response.status_code}, field={body.get('field')!r} (want {field_name!r})"
    return ""


def _snippet(response: httpx.Response) -> str:
    return response.text[:160].replace("\n", " ")


@dataclass
class Tally:
    """The (field, value) cases of one test: tried, accepted (2xx), refused (4xx), and
    every mismatch with the contract."""

    tried: int = 0
    accepted: int = 0
    refused: int = 0
    mismatches: list[str] = field(default_factory=list)

    def count(self, response: httpx.Response) -> None:
        self.tried += 1
        if response.is_success:
            self.accepted += 1
        elif 400 <= response.status_code < 500:
            self.refused += 1

    def report(self, title: str) -> None:
        report_figures(
            title,
            cases=self.tried,
            accepted=self.accepted,
            refused=self.refused,
            mismatches=len(self.mismatches),
        )
        assert not self.mismatches, f"{len(self.mismatches)} of {self.tried} cases break the " + (
            "contract:\n  " + "\n  ".join(self.mismatches)
        )


# --- POST /internal/trades -------------------------------------------------------------

CREATE_FIELDS = ("amount_in", "expected_amount_out")
OTHER_VALUE = {"amount_in": '"1000"', "expected_amount_out": "2500"}


def _create_with(bot: Bot, field_name: str, text: str) -> tuple[str, httpx.Response]:
    n = next(_pairs)
    values = dict(OTHER_VALUE)
    values[field_name] = text
    fields = trade_fields(bot.job_id, n, values["amount_in"], values["expected_amount_out"])
    return f"amounts-{n}", bot.post_raw("/internal/trades", raw_body(fields))


def test_trade_creation_amounts_are_exact_or_refused_naming_the_field(bot: Bot) -> None:
    tally = Tally()
    for field_name in CREATE_FIELDS:
        for text, stored in ACCEPTED:
            order_id, response = _create_with(bot, field_name, text)
            tally.count(response)
            case = f"{field_name}={text}"
            if field_name == "amount_in" and stored == "0":
                # u64 allows 0, the database's business rule does not (amount_in > 0).
                problem = _refusal_problems(response, field_name, (422,))
                if problem:
                    tally.mismatches.append(f"{case}: {problem}: {_snippet(response)}")
                elif bot.trades_with_order_id(order_id):
                    tally.mismatches.append(f"{case}: refused but a trade was written")
                continue
            if response.status_code != 201:
                tally.mismatches.append(
                    f"{case}: status {response.status_code} (want 201): {_snippet(response)}"
                )
                continue
            answered = response.json()["trade"]
            if answered[field_name] != stored:
                tally.mismatches.append(f"{case}: answered {answered[field_name]!r}")
            read = bot.get_trade(answered["id"])
            if read[field_name] != stored:
                tally.mismatches.append(f"{case}: read back {read[field_name]!r}, want {stored!r}")
        refusals = [(t, (422,)) for t in REFUSED] + [
            (t, (400, 422)) for t in OTHER_TYPES + REQUIRED_ONLY
        ]
        for text, statuses in refusals:
            order_id, response = _create_with(bot, field_name, text)
            tally.count(response)
            case = f"{field_name}={text}"
            problem = _refusal_problems(response, field_name, statuses)
            if problem:
                tally.mismatches.append(f"{case}: {problem}: {_snippet(response)}")
            if response.is_success or bot.trades_with_order_id(order_id):
                tally.mismatches.append(f"{case}: a trade was written")
    tally.report("amounts POST /internal/trades")


# --- POST /internal/trades/{id}/confirmed and /failed ------------------------------------


@dataclass
class Transition:
    """A transition's amount field and the body around it."""

    action: str  # 'confirmed' or 'failed'
    field_name: str
    others: list[tuple[str, str]]
    required: bool

    def body(self, text: str) -> str:
        return raw_body([*self.others, (self.field_name, text)])


TRANSITIONS = [
    Transition("confirmed", "actual_amount_out", [], required=True),
    Transition("confirmed", "gas_fee", [("actual_amount_out", '"2400"')], required=False),
    Transition("failed", "gas_fee", [("error_message", '"no route"')], required=False),
]
STATUS_AFTER = {"confirmed": "CONFIRMED", "failed": "FAILED"}


def _untouched(trade: dict[str, Any]) -> str:
    """'' when a SUBMITTED trade shows no trace of a confirmation or failure."""
    changed = {
        name: trade[name]
        for name in ("actual_amount_out", "gas_fee", "error_message", "completed_at")
        if trade.get(name) is not None
    }
    if trade["status"] != "SUBMITTED" or changed:
        return f"trade is now {trade['status']} with {changed}"
    return ""


def _check_transition(bot: Bot, move: Transition, tally: Tally) -> None:
    # Accepted: one SUBMITTED trade per value (the move is final).
    for text, stored in ACCEPTED:
        trade_id = bot.new_trade(submitted=True)
        response = bot.post_raw(f"/internal/trades/{trade_id}/{move.action}", move.body(text))
        tally.count(response)
        case = f"/{move.action} {move.field_name}={text}"
        if response.status_code != 200:
            tally.mismatches.append(
                f"{case}: status {response.status_code} (want 200): {_snippet(response)}"
            )
            continue
        read = bot.get_trade(trade_id)
        if (read["status"], read[move.field_name]) != (STATUS_AFTER[move.action], stored):
            tally.mismatches.append(
                f"{case}: read back status {read['status']}, "
                f"{move.field_name}={read[move.field_name]!r} (want {stored!r})"
            )
    # Refused: one SUBMITTED trade for all of them, which each refusal leaves SUBMITTED.
    refusals = [(t, (422,)) for t in REFUSED] + [(t, (400, 422)) for t in OTHER_TYPES]
    if move.required:
        refusals += [(t, (400, 422)) for t in REQUIRED_ONLY]
    trade_id = bot.new_trade(submitted=True)
    for text, statuses in refusals:
        response = bot.post_raw(f"/internal/trades/{trade_id}/{move.action}", move.body(text))
        tally.count(response)
        case = f"/{move.action} {move.field_name}={text}"
        problem = _refusal_problems(response, move.field_name, statuses)
        if problem:
            tally.mismatches.append(f"{case}: {problem}: {_snippet(response)}")
        left = _untouched(bot.get_trade(trade_id))
        if left:
            tally.mismatches.append(f"{case}: not refused cleanly: {left}")
            trade_id = bot.new_trade(submitted=True)  # a fresh one for the next value


def test_confirmation_amounts_are_exact_or_refused_naming_the_field(bot: Bot) -> None:
    tally = Tally()
    for move in TRANSITIONS:
        if move.action == "confirmed":
            _check_transition(bot, move, tally)
    tally.report("amounts POST /internal/trades/{id}/confirmed")


def test_failure_gas_fee_is_exact_or_refused_naming_the_field(bot: Bot) -> None:
    tally = Tally()
    for move in TRANSITIONS:
        if move.action == "failed":
            _check_transition(bot, move, tally)
    tally.report("amounts POST /internal/trades/{id}/failed")
