"""The property-based proof: schemathesis against the served API, over real HTTP.

A fresh migrated database gets a little data through the API itself (a user enables the
bot with a vault; the engine creates, starts and completes a scoring run with three
scores; the bot creates a job, starts it and creates a trade), `xorj serve` serves it on
loopback, and the schemathesis command line (its own process, from the virtualenv) runs
against /schema/openapi.json three times, once per kind of token, on the operations that
token may call:

    engine  role engine   ^/internal/(scoring-runs|ranked-traders$)
    bot     role bot      ^/internal/(execution-jobs|trades|ranked-traders$
                                      |scoring-runs/{id}/scores$)
    user    a wallet      ^/api/  and the public /healthz, /readyz, /metrics

Every operation of the document must fall in some group, and be reached by some request:
a new endpoint is never left out silently. The groups are path regexes, not the OpenAPI
tags (user, ops, scoring, jobs, trades): a kind of token is not a tag (the bot also reads
the ranked traders and a run's scores, which are tagged scoring with the engine's calls).

Each run, in a temporary directory (no schemathesis.toml, no .hypothesis of the checkout):

    schemathesis run <base>/schema/openapi.json --header "Authorization: Bearer <token>"
        --include-path-regex <group> --checks <CHECKS>
        --phases examples,coverage,fuzzing,stateful --max-examples 40 --seed 20240601
        --workers 1 --request-timeout 10 --continue-on-failure --generation-database none
        --report ndjson --report-ndjson-path <dir>/<group>.ndjson --no-color

Its NDJSON event stream is parsed: one ScenarioFinished event per operation and phase (and
per stateful scenario) holds every case, the HTTP interaction it made and the result of
every check (--continue-on-failure keeps testing, and recording, after a failure).
Requests are counted from it and checked against the server's own counter
(xorj_http_requests_total), whose 5xx responses are a second, independent count of server
errors. The figures go through report_figures; then the test fails on any failed check,
errored request, 5xx, timed-out or unfinished run, listing every distinct failure by
(operation, check, status) with its details and one example request and response.

Bounded: 40 cases per operation and phase (the coverage phase sends what the schema
implies), one minute or so for the three runs on two cores, and a hard timeout per run
(RUN_TIMEOUT) and for all three (TOTAL_TIMEOUT).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BIN, report_figures
from tests.solana import address
from tests.test_api_http import _env, _token, serve

SCHEMATHESIS = BIN / "schemathesis"
CHECKS = (
    # the responses: no 5xx, and every status, content type, header and body documented
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    # the requests: what the document calls invalid is refused (4xx), a request without its
    # token or with a broken one is refused (401), an undocumented method gets 405 and an
    # Allow header listing exactly the documented methods
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    # stateful: what was created can be read back
    "use_after_free",
    "ensure_resource_availability",
)
PHASES = "examples,coverage,fuzzing,stateful"
MAX_EXAMPLES = 40  # per operation and phase (fuzzing); coverage is what the schema gives
SEED = 20_240_601
WORKERS = 1  # 2 threads hit CPython 3.11.7 gh-106905 (SystemError in ast) now and then
REQUEST_TIMEOUT = 10.0  # seconds, per request
RUN_TIMEOUT = 240.0  # seconds, per schemathesis run: it can never hang the suite,
TOTAL_TIMEOUT = 480.0  # nor can the three runs together
MAX_LISTED = 80  # distinct failures listed in the assertion message

USER_WALLET = address(7001)
USER_VAULT = address(7002)


@dataclass(frozen=True)
class Group:
    name: str
    path_regex: str


# The order matters a little: the bot runs before the user, who may disable its bot.
GROUPS = (
    Group("engine", r"^/internal/(scoring-runs|ranked-traders$)"),
    Group(
        "bot",
        r"^/internal/(execution-jobs|trades|ranked-traders$|scoring-runs/[^/]+/scores$)",
    ),
    Group("user", r"^/(api/|healthz$|readyz$|metrics$)"),
)


@dataclass
class Failure:
    group: str
    operation: str
    check: str
    code: str
    title: str
    status: int | None
    detail: str
    request: str
    response: str


@dataclass
class RunResult:
    group: str
    exit_code: int | None
    seconds: float
    requests: int = 0
    operations: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # errored requests, fatal errors
    finished: bool = False
    output: str = ""


# --- seeding ---------------------------------------------------------------------------


def _seed(base: str, tokens: dict[str, str]) -> None:
    """A user with an enabled bot and a vault, a completed scoring run with three scores,
    a running job and one trade: something for the operations to find."""

    def post(who: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        response = client.post(path, headers=headers, json=body)
        assert response.status_code in (200, 201), f"seeding {path}: {response.text}"
        return response.json()

    with httpx.Client(base_url=base, timeout=10) as client:
        post("user", "/api/bot/enable", {"vaultAddress": USER_VAULT})
        run_id = post("engine", "/internal/scoring-runs")["id"]
        post("engine", f"/internal/scoring-runs/{run_id}/start")
        scores = [
            {"wallet_address": address(7010 + i), "xorj_trust_score": 50 + 10 * i} for i in range(3)
        ]
        post("engine", f"/internal/scoring-runs/{run_id}/complete", {"scores": scores})
        job_id = post("bot", "/internal/execution-jobs", {"trigger_reason": "SCHEDULED_RUN"})["id"]
        post("bot", f"/internal/execution-jobs/{job_id}/start", {"worker_id": "w1"})
        post(
            "bot",
            "/internal/trades",
            {
                "job_id": job_id,
                "user_vault_address": USER_VAULT,
                "client_order_id": "order-1",
                "from_token_address": address(900),
                "to_token_address": address(901),
                "amount_in": "1000000",
                "expected_amount_out": 2500,
            },
        )


def _operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return [
        (method.upper(), path)
        for path, item in schema.get("paths", {}).items()
        for method in item
        if method in methods
    ]


def _server_requests(base: str) -> Counter[str]:
    """The server's own count of requests so far, by status class ('2xx', '5xx', ...)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    counts: Counter[str] = Counter()
    for match in re.finditer(
        r'^xorj_http_requests_total\{.*\bstatus="(\d)\d\d".*\}\s+([0-9.eE+]+)$',
        text,
        re.MULTILINE,
    ):
        counts[f"{match[1]}xx"] += int(float(match[2]))
    return counts


# --- running schemathesis --------------------------------------------------------------


def _command(base: str, token: str, group: Group, report: Path) -> list[str]:
    return [
        str(SCHEMATHESIS),
        "run",
        f"{base}/schema/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--include-path-regex",
        group.path_regex,
        "--checks",
        ",".join(CHECKS),
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        str(WORKERS),
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--no-color",
    ]


def _run(base: str, token: str, group: Group, workdir: Path, deadline: float) -> RunResult:
    report = workdir / f"{group.name}.ndjson"
    started = time.monotonic()
    timeout = min(RUN_TIMEOUT, deadline - started)
    if timeout <= 0:
        return RunResult(group.name, None, 0.0, output="not started: no time left")
    try:
        proc = subprocess.run(
            _command(base, token, group, report),
            cwd=workdir,  # no schemathesis.toml of the checkout, nothing written there
            env=_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        exit_code: int | None = proc.returncode
        output = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        exit_code = None
        output = f"killed after {timeout:.0f} s\n" + _text(exc.stdout) + _text(exc.stderr)
    result = RunResult(group.name, exit_code, time.monotonic() - started, output=output)
    if report.exists():
        _parse(report, result)
    return result


def _text(data: str | bytes | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _decode(payload: Any, limit: int = 300) -> str:
    if payload is None:
        return ""
    if isinstance(payload, dict) and "$base64" in payload:
        text = base64.b64decode(payload["$base64"]).decode("utf-8", errors="backslashreplace")
    elif isinstance(payload, str):
        text = payload
    else:
        text = json.dumps(payload)
    return text if len(text) <= limit else text[:limit] + "..."


def _parse(report: Path, result: RunResult) -> None:
    for line in report.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # the last line of a run killed half way
            result.errors.append(f"unreadable line in {report.name}: {line[:100]}")
            continue
        (kind, data), *_ = event.items()
        if kind == "ScenarioFinished":
            _parse_scenario(data, result)
        elif kind == "NonFatalError":
            value = data.get("value") or {}
            result.errors.append(
                f"{data.get('label')}: {value.get('type')}: {str(value.get('message'))[:300]}"
            )
        elif kind == "FatalError":
            result.errors.append(f"fatal: {json.dumps(data)[:500]}")
        elif kind == "EngineFinished":
            result.finished = True


def _parse_scenario(data: dict[str, Any], result: RunResult) -> None:
    recorder = data.get("recorder") or {}
    label = recorder.get("label", "?")
    interactions = recorder.get("interactions") or {}
    cases = recorder.get("cases") or {}
    result.requests += len(interactions)
    for case_id in interactions:
        case = (cases.get(case_id) or {}).get("value") or {}
        result.operations.add(f"{case.get('method', '?')} {case.get('path', '?')}")
    for case_id, checks in (recorder.get("checks") or {}).items():
        for check in checks:
            if check.get("status") != "failure":
                continue
            info = (check.get("failure_info") or {}).get("failure") or {}
            interaction = interactions.get(case_id) or {}
            request = interaction.get("request") or {}
            response = interaction.get("response") or {}
            uri = re.sub(r"^https?://[^/]+", "", request.get("uri", ""))
            body = _decode(request.get("body"), 200)
            sent = f"{request.get('method', '?')} {uri}" + (f" body={body}" if body else "")
            message = [line.strip() for line in (info.get("message") or "").splitlines()]
            message = [line for line in message if line][:3]
            result.failures.append(
                Failure(
                    group=result.group,
                    operation=info.get("operation") or label,
                    check=check.get("name", "?"),
                    code=info.get("code", "?"),
                    title=info.get("title", "?"),
                    status=response.get("status_code"),
                    detail=" | ".join(message)[:250],
                    request=sent,
                    response=_decode(response.get("content"), 300),
                )
            )


# --- the report ------------------------------------------------------------------------


def _describe(failures: list[Failure]) -> list[str]:
    """One entry per (operation, check, token group, status): how many cases, the
    distinct details, one example request and response."""
    grouped: dict[tuple[str, str, str, int | None], list[Failure]] = defaultdict(list)
    for failure in failures:
        grouped[(failure.operation, failure.check, failure.group, failure.status)].append(failure)
    lines = []
    for (operation, check, group, status), items in sorted(
        grouped.items(), key=lambda kv: (kv[0][1], kv[0][0], str(kv[0][3]))
    ):
        first = items[0]
        details = list(dict.fromkeys(f.detail for f in items if f.detail))[:3]
        lines.append(
            f"- {operation} [{check} {first.code} {first.title}] status={status} "
            f"token={group} cases={len(items)}\n"
            + "".join(f"    detail: {detail}\n" for detail in details)
            + f"    request: {first.request}\n"
            f"    response: {first.response}"
        )
    return lines


def _unexplained(run: RunResult) -> str | None:
    """Why a run cannot be trusted, apart from its failures; None when it can."""
    if run.exit_code is None:
        return "timed out"
    if not run.finished:
        return f"exit code {run.exit_code} and no EngineFinished event in its report"
    if run.requests == 0:
        return "sent no request"
    if run.exit_code != 0 and not run.failures and not run.errors:
        return f"exit code {run.exit_code} without any failure in its report"
    return None


# --- the test --------------------------------------------------------------------------


def test_schemathesis_finds_nothing(app_url: str, tmp_path: Path) -> None:
    if not SCHEMATHESIS.exists():
        pytest.fail(
            f"schemathesis is not installed ({SCHEMATHESIS} is missing): it is a dev "
            "dependency, install it with `.venv/bin/pip install -e '.[dev]'` (or `make test`)"
        )
    tokens = {
        "user": _token(USER_WALLET),
        "bot": _token(role="bot"),
        "engine": _token(role="engine"),
    }
    started = time.monotonic()
    with serve(app_url) as server:
        _seed(server.base, tokens)
        schema = httpx.get(f"{server.base}/schema/openapi.json", timeout=10).json()
        operations = _operations(schema)
        uncovered = [
            f"{method} {path}"
            for method, path in operations
            if not any(re.search(g.path_regex, path) for g in GROUPS)
        ]
        assert not uncovered, f"operations no token group fuzzes: {uncovered}"

        server_before = _server_requests(server.base)
        deadline = time.monotonic() + TOTAL_TIMEOUT
        runs = [_run(server.base, tokens[g.name], g, tmp_path, deadline) for g in GROUPS]
        server_after = _server_requests(server.base)
        alive = server.proc.poll() is None
        log = server.output()
    seconds = time.monotonic() - started

    failures = [f for run in runs for f in run.failures]
    by_check = Counter(f.check for f in failures)
    described = _describe(failures)
    server_seen = sum((server_after - server_before).values())
    server_5xx = (server_after - server_before)["5xx"]
    # Cases of methods the document does not have (the coverage phase's 405 probes) aside.
    tested = set().union(*(run.operations for run in runs)) & {f"{m} {p}" for m, p in operations}
    report_figures(
        "schemathesis",
        requests=sum(run.requests for run in runs),  # as recorded by schemathesis
        **{f"requests_{run.group}": run.requests for run in runs},
        server_requests=server_seen,
        server_5xx=server_5xx,
        operations=f"{len(tested)}/{len(operations)}",
        failed_checks=len(failures),
        distinct_failures=len(described),
        **{check: by_check[check] for check in CHECKS},
        errors=sum(len(run.errors) for run in runs),
        seconds=round(seconds, 1),
        **{f"seconds_{run.group}": round(run.seconds, 1) for run in runs},
    )

    problems = []
    for run in runs:
        reason = _unexplained(run)
        if reason:
            problems.append(
                f"schemathesis run '{run.group}' {reason}; its output ends with:\n"
                + run.output[-3000:]
            )
        problems += [f"request error ({run.group}): {error}" for error in run.errors]
    untested = sorted({f"{m} {p}" for m, p in operations} - tested)
    if untested:
        problems.append(f"operations no request reached: {untested}")
    if failures:
        more = len(described) - MAX_LISTED
        problems.append(
            f"{len(failures)} failed checks, {len(described)} distinct "
            f"(by check: {dict(by_check)}):\n"
            + "\n".join(described[:MAX_LISTED])
            + (f"\n... and {more} more" if more > 0 else "")
        )
    if server_5xx:
        problems.append(f"the server answered {server_5xx} requests with a 5xx")
    sent = sum(run.requests for run in runs)
    if server_seen < sent:
        problems.append(
            f"the server's xorj_http_requests_total counted {server_seen} requests, fewer than "
            f"the {sent} schemathesis recorded: its 5xx count (an independent check) is incomplete"
        )
    if not alive:
        problems.append(f"xorj serve died during the runs:\n{log}")
    if problems:
        pytest.fail(
            f"schemathesis found problems (its reports: {tmp_path}/*.ndjson)\n\n"
            + "\n\n".join(problems),
            pytrace=False,
        )
