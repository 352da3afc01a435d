"""The internal endpoints (app/routes/internal.py) against a real migrated database: the
quant engine's scoring runs, the bot's jobs and trades, the guards, the error bodies,
the metrics and the OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from tests.solana import address, signature

U64_MAX = "18446744073709551615"
MAX_SECONDS = 999_999_999 * 86_400 + 86_399  # timedelta.max, in whole seconds
FROM_TOKEN = address(900)
TO_TOKEN = address(901)
OTHER_TOKEN = address(902)


class Api:
    """The test client with a token per caller."""

    def __init__(self, client: TestClient, make_token: Callable[..., str]) -> None:
        self.client = client
        self.make_token = make_token
        self.headers = {
            "engine": {"Authorization": f"Bearer {make_token(role='engine')}"},
            "bot": {"Authorization": f"Bearer {make_token(role='bot')}"},
            "user": {"Authorization": f"Bearer {make_token(wallet=address(1))}"},
            "none": {},
        }

    def get(self, path: str, who: str = "bot", **params: Any) -> Any:
        return self.client.get(path, headers=self.headers[who], params=params or None)

    def post(self, path: str, body: Any = None, who: str = "bot") -> Any:
        if body is None:
            return self.client.post(path, headers=self.headers[who])
        return self.client.post(path, headers=self.headers[who], json=body)

    def as_user(self, wallet_n: int, path: str, body: Any = None) -> Any:
        """POST as the user of wallet address(wallet_n)."""
        token = self.make_token(wallet=address(wallet_n))
        return self.client.post(path, headers={"Authorization": f"Bearer {token}"}, json=body)

    def enable_bot(self, wallet_n: int, vault: str) -> None:
        response = self.as_user(wallet_n, "/api/bot/enable", {"vaultAddress": vault})
        assert response.status_code == 200, response.text
        assert response.json()["status"]["canTrade"] is True

    def running_job(self, worker: str = "w1") -> str:
        created = self.post("/internal/execution-jobs", {"trigger_reason": "SCHEDULED_RUN"})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        started = self.post(f"/internal/execution-jobs/{job_id}/start", {"worker_id": worker})
        assert started.status_code == 200, started.text
        return job_id

    def metrics(self) -> str:
        response = self.client.get("/metrics")
        assert response.status_code == 200
        return response.text


@pytest.fixture
def api(api_client: TestClient, make_token: Callable[..., str]) -> Api:
    return Api(api_client, make_token)


@pytest.fixture
def vault(api: Api) -> str:
    """A vault whose owner (wallet 10) has enabled the bot."""
    vault = address(500)
    api.enable_bot(10, vault)
    return vault


def trade_body(job_id: str, vault: str, key: str = "order-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_id": job_id,
        "user_vault_address": vault,
        "client_order_id": key,
        "from_token_address": FROM_TOKEN,
        "to_token_address": TO_TOKEN,
        "amount_in": "1000000",
        "expected_amount_out": 2500,
    }
    body.update(changes)
    return body


def assert_error(response: Any, status: int, code: str, **fields: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code, body
    for name, value in fields.items():
        assert body.get(name) == value, (name, body)
    return body


# --- quant engine ----------------------------------------------------------------------

SCORES = [
    {"wallet_address": address(11), "xorj_trust_score": 71.5, "metrics": {"roi": 0.12}},
    {"wallet_address": address(12), "xorj_trust_score": 93.25, "metrics": {"roi": 0.4}},
    {"wallet_address": address(13), "xorj_trust_score": 80},
]


def complete_run(api: Api, scores: list[Any]) -> tuple[str, Any]:
    created = api.post("/internal/scoring-runs", who="engine")
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    started = api.post(f"/internal/scoring-runs/{run_id}/start", who="engine")
    assert started.status_code == 200, started.text
    return run_id, api.post(
        f"/internal/scoring-runs/{run_id}/complete", {"scores": scores}, who="engine"
    )


def test_scoring_run_flow_ranks_best_first(api: Api) -> None:
    created = api.post("/internal/scoring-runs", who="engine")
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["status"] == "PENDING"
    assert run["started_at"] is None and run["completed_at"] is None

    started = api.post(f"/internal/scoring-runs/{run['id']}/start", who="engine")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "RUNNING"
    assert started.json()["started_at"] is not None

    completed = api.post(
        f"/internal/scoring-runs/{run['id']}/complete", {"scores": SCORES}, who="engine"
    )
    assert completed.status_code == 200, completed.text
    done = completed.json()
    assert (done["id"], done["status"], done["scores_inserted"]) == (run["id"], "COMPLETED", 3)
    assert done["completed_at"] is not None

    ranked = api.get("/internal/ranked-traders", who="engine")
    assert ranked.status_code == 200, ranked.text
    body = ranked.json()
    assert body["run_id"] == run["id"]
    assert body["completed_at"] is not None
    assert (body["limit"], body["offset"]) == (100, 0)
    assert body["traders"] == [
        {"rank": 1, "wallet_address": address(12), "xorj_trust_score": 93.25,
         "metrics": {"roi": 0.4}},
        {"rank": 2, "wallet_address": address(13), "xorj_trust_score": 80.0, "metrics": {}},
        {"rank": 3, "wallet_address": address(11), "xorj_trust_score": 71.5,
         "metrics": {"roi": 0.12}},
    ]  # fmt: skip

    # The bot reads the same list; a page keeps the ranks of the whole run.
    page = api.get("/internal/ranked-traders", who="bot", limit=2, offset=1)
    assert page.status_code == 200, page.text
    assert [(t["rank"], t["wallet_address"]) for t in page.json()["traders"]] == [
        (2, address(13)),
        (3, address(11)),
    ]
    assert (page.json()["limit"], page.json()["offset"]) == (2, 1)

    scores = api.get(f"/internal/scoring-runs/{run['id']}/scores", who="bot", limit=1)
    assert scores.status_code == 200, scores.text
    assert scores.json() == {
        "run_id": run["id"],
        "traders": [body["traders"][0]],
        "limit": 1,
        "offset": 0,
    }
    deeper = api.get(f"/internal/scoring-runs/{run['id']}/scores", who="engine", offset=2)
    assert deeper.status_code == 200, deeper.text
    assert deeper.json() == {
        "run_id": run["id"],
        "traders": [body["traders"][2]],
        "limit": 100,
        "offset": 2,
    }


def test_ranked_traders_without_completed_run_is_empty(api: Api) -> None:
    response = api.get("/internal/ranked-traders", who="engine")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "run_id": None,
        "completed_at": None,
        "traders": [],
        "limit": 100,
        "offset": 0,
    }


def test_ranked_traders_page_bounds_are_the_databases(api: Api) -> None:
    response = api.get("/internal/ranked-traders", who="engine", limit=1001)
    assert_error(response, 422, "XJ422", field="limit")
    response = api.get("/internal/ranked-traders", who="engine", limit="many")
    assert_error(response, 400, "bad_request")
    assert "limit" in response.json()["detail"]


def test_complete_with_bad_element_saves_nothing(api: Api, db_url: str) -> None:
    bad = [SCORES[0], {**SCORES[1], "xorj_trust_score": -1}, SCORES[2]]
    run_id, response = complete_run(api, bad)
    body = assert_error(response, 422, "XJ422", field="scores[1].xorj_trust_score")
    assert "scores[1].xorj_trust_score" in body["message"]

    ranked = api.get("/internal/ranked-traders", who="engine")
    assert ranked.status_code == 200
    assert ranked.json()["traders"] == [] and ranked.json()["run_id"] is None
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM xorj.trader_scores").fetchone()
        assert row == (0,)
        status = conn.execute("SELECT status::text FROM xorj.scoring_runs").fetchone()
        assert status == ("RUNNING",)

    # An element that is not an object is the database's to name too.
    response = api.post(
        f"/internal/scoring-runs/{run_id}/complete", {"scores": [SCORES[0], 7]}, who="engine"
    )
    assert_error(response, 422, "XJ422", field="scores[1]")

    # The run is still RUNNING: the corrected batch completes it.
    response = api.post(
        f"/internal/scoring-runs/{run_id}/complete", {"scores": SCORES}, who="engine"
    )
    assert response.status_code == 200, response.text
    assert response.json()["scores_inserted"] == 3


def test_complete_takes_100000_scores_in_one_request(api: Api) -> None:
    scores = [
        {"wallet_address": address(10_000 + i), "xorj_trust_score": i % 1000 + 0.5}
        for i in range(100_000)
    ]
    scores[4242] = {"wallet_address": address(4242), "xorj_trust_score": 1000, "metrics": {"a": 1}}
    scores[7]["xorj_trust_score"] = 999.75
    _, response = complete_run(api, scores)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["scores_inserted"] == 100_000

    ranked = api.get("/internal/ranked-traders", who="engine", limit=2, offset=0)
    assert ranked.status_code == 200, ranked.text
    assert ranked.json()["traders"] == [
        {"rank": 1, "wallet_address": address(4242), "xorj_trust_score": 1000.0,
         "metrics": {"a": 1}},
        {"rank": 2, "wallet_address": address(10_007), "xorj_trust_score": 999.75,
         "metrics": {}},
    ]  # fmt: skip
    last = api.get("/internal/ranked-traders", who="engine", limit=1, offset=99_999)
    assert last.status_code == 200, last.text
    assert [t["rank"] for t in last.json()["traders"]] == [100_000]


def test_fail_scoring_run(api: Api) -> None:
    run_id = api.post("/internal/scoring-runs", who="engine").json()["id"]
    blank = api.post(f"/internal/scoring-runs/{run_id}/fail", {"error": " "}, who="engine")
    assert_error(blank, 422, "XJ422", field="error")

    failed = api.post(
        f"/internal/scoring-runs/{run_id}/fail", {"error": "data source down"}, who="engine"
    )
    assert failed.status_code == 200, failed.text
    run = failed.json()
    assert (run["id"], run["status"], run["error_message"]) == (
        run_id,
        "FAILED",
        "data source down",
    )
    assert run["completed_at"] is not None

    again = api.post(f"/internal/scoring-runs/{run_id}/start", who="engine")
    body = assert_error(again, 409, "XJ423")
    assert "FAILED -> RUNNING" in body["message"]

    missing = api.post(
        "/internal/scoring-runs/00000000-0000-4000-8000-000000000000/start", who="engine"
    )
    assert_error(missing, 404, "XJ404")


# --- execution jobs --------------------------------------------------------------------


def test_job_lifecycle(api: Api) -> None:
    created = api.post(
        "/internal/execution-jobs",
        {"trigger_reason": "MANUAL_TRIGGER", "parameters": {"dry_run": True}},
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["status"], job["trigger_reason"], job["parameters"]) == (
        "PENDING",
        "MANUAL_TRIGGER",
        {"dry_run": True},
    )
    assert job["worker_id"] is None

    path = f"/internal/execution-jobs/{job['id']}"
    started = api.post(f"{path}/start", {"worker_id": "w1"})
    assert started.status_code == 200, started.text
    assert (started.json()["status"], started.json()["worker_id"]) == ("RUNNING", "w1")
    first_beat = started.json()["heartbeat_at"]
    assert first_beat is not None

    stranger = api.post(f"{path}/heartbeat", {"worker_id": "w2"})
    body = assert_error(stranger, 409, "XJ409", rule="job_worker_mismatch")
    assert "w1" in body["message"]

    beat = api.post(f"{path}/heartbeat", {"worker_id": "w1"})
    assert beat.status_code == 200, beat.text
    assert beat.json()["heartbeat_at"] > first_beat

    stranger_done = api.post(f"{path}/complete", {"worker_id": "w2"})
    assert_error(stranger_done, 409, "XJ409", rule="job_worker_mismatch")

    completed = api.post(f"{path}/complete", {"worker_id": "w1"})
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "COMPLETED"
    assert completed.json()["completed_at"] is not None
    repeat = api.post(f"{path}/complete", {"worker_id": "w1"})
    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == completed.json()

    late_fail = api.post(f"{path}/fail", {"error": "too late", "worker_id": "w1"})
    body = assert_error(late_fail, 409, "XJ423")
    assert "COMPLETED -> FAILED" in body["message"]


def test_job_create_refusals_and_fail_without_worker(api: Api) -> None:
    bad_reason = api.post("/internal/execution-jobs", {"trigger_reason": "WHENEVER"})
    assert_error(bad_reason, 422, "XJ422", field="trigger_reason")
    bad_parameters = api.post(
        "/internal/execution-jobs", {"trigger_reason": "SCHEDULED_RUN", "parameters": [1]}
    )
    assert_error(bad_parameters, 400, "bad_request")
    assert "parameters" in bad_parameters.json()["detail"]

    created = api.post("/internal/execution-jobs", {"trigger_reason": "RECOVERY_RUN"})
    assert created.status_code == 201, created.text
    assert created.json()["parameters"] == {}
    job_id = created.json()["id"]
    failed = api.post(f"/internal/execution-jobs/{job_id}/fail", {"error": "cancelled"})
    assert failed.status_code == 200, failed.text
    assert (failed.json()["status"], failed.json()["error_message"]) == ("FAILED", "cancelled")
    assert failed.json()["worker_id"] is None

    missing = api.post(
        "/internal/execution-jobs/00000000-0000-4000-8000-000000000000/start",
        {"worker_id": "w1"},
    )
    assert_error(missing, 404, "XJ404")


def test_fail_job_by_its_worker(api: Api) -> None:
    job_id = api.running_job("w1")
    path = f"/internal/execution-jobs/{job_id}/fail"
    stranger = api.post(path, {"error": "boom", "worker_id": "w2"})
    body = assert_error(stranger, 409, "XJ409", rule="job_worker_mismatch")
    assert body["detail"] == "job_worker_id=w1"

    failed = api.post(path, {"error": "boom", "worker_id": "w1"})
    assert failed.status_code == 200, failed.text
    job = failed.json()
    assert (job["status"], job["worker_id"], job["error_message"]) == ("FAILED", "w1", "boom")
    repeat = api.post(path, {"error": "boom", "worker_id": "w1"})
    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == job


def test_reap_fails_only_stale_jobs(api: Api) -> None:
    stale = api.running_job("w-stale")
    live = api.running_job("w-live")
    time.sleep(1.2)
    beat = api.post(f"/internal/execution-jobs/{live}/heartbeat", {"worker_id": "w-live"})
    assert beat.status_code == 200, beat.text

    # A large age (about 3,170 years) reaps nothing; beyond what an interval built from a
    # timedelta holds, the number is refused.
    longest = api.post("/internal/execution-jobs/reap", {"stale_after_seconds": 10**11})
    assert longest.status_code == 200, longest.text
    assert longest.json() == {"reaped": []}
    too_long = api.post("/internal/execution-jobs/reap", {"stale_after_seconds": MAX_SECONDS + 1})
    assert_error(too_long, 400, "bad_request")
    assert "stale_after_seconds" in too_long.json()["detail"]

    reaped = api.post("/internal/execution-jobs/reap", {"stale_after_seconds": 1})
    assert reaped.status_code == 200, reaped.text
    jobs = reaped.json()["reaped"]
    assert [(j["id"], j["status"]) for j in jobs] == [(stale, "FAILED")]
    assert jobs[0]["error_message"].startswith("stalled: no heartbeat since ")
    assert jobs[0]["error_message"].endswith("(worker w-stale)")

    again = api.post("/internal/execution-jobs/reap", {"stale_after_seconds": 1})
    assert again.status_code == 200, again.text
    assert again.json() == {"reaped": []}

    # The reaped worker learns it lost the job.
    late = api.post(f"/internal/execution-jobs/{stale}/heartbeat", {"worker_id": "w-stale"})
    assert_error(late, 409, "XJ423")

    zero = api.post("/internal/execution-jobs/reap", {"stale_after_seconds": 0})
    assert_error(zero, 400, "bad_request")
    assert "stale_after_seconds" in zero.json()["detail"]


# --- trades ----------------------------------------------------------------------------


def create(api: Api, body: dict[str, Any]) -> Any:
    return api.post("/internal/trades", body)


def test_trade_create_then_replay(api: Api, vault: str) -> None:
    job_id = api.running_job()
    first = create(api, trade_body(job_id, vault))
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["replay"] is False
    trade = created["trade"]
    assert trade["status"] == "PENDING"
    assert (trade["job_id"], trade["user_vault_address"], trade["client_order_id"]) == (
        job_id,
        vault,
        "order-1",
    )
    assert (trade["amount_in"], trade["expected_amount_out"]) == ("1000000", "2500")
    assert trade["actual_amount_out"] is None and trade["transaction_signature"] is None

    # The same request again (the amount sent as a JSON integer this time: the same value).
    replay = create(api, trade_body(job_id, vault, amount_in=1000000))
    assert replay.status_code == 200, replay.text
    assert replay.json()["replay"] is True
    assert replay.json()["trade"] == trade

    text = api.metrics()
    assert "xorj_trades_created_total 1.0" in text
    assert "xorj_trade_replays_total 1.0" in text


def test_trade_needs_a_running_job(api: Api, vault: str) -> None:
    created = api.post("/internal/execution-jobs", {"trigger_reason": "SCHEDULED_RUN"})
    assert created.status_code == 201, created.text
    pending_job = created.json()["id"]
    refused = create(api, trade_body(pending_job, vault))
    body = assert_error(refused, 409, "XJ409", rule="job_not_running")
    assert body["conflicting_trade_id"] is None
    assert body["detail"] == "job_status=PENDING"

    unknown = create(api, trade_body("00000000-0000-4000-8000-000000000000", vault))
    assert_error(unknown, 404, "XJ404")
    assert "xorj_trades_created_total 0.0" in api.metrics()


def test_trade_in_flight_names_the_conflicting_trade(api: Api, vault: str) -> None:
    job_id = api.running_job()
    first = create(api, trade_body(job_id, vault))
    assert first.status_code == 201, first.text
    first_id = first.json()["trade"]["id"]

    second = create(api, trade_body(job_id, vault, key="order-2", amount_in="5"))
    body = assert_error(second, 409, "XJ409", rule="trade_in_flight")
    assert body["conflicting_trade_id"] == first_id
    assert body["detail"] == f"conflicting_trade_id={first_id}"

    # Another pair of the same vault is not in the way.
    other = create(api, trade_body(job_id, vault, key="order-3", to_token_address=OTHER_TOKEN))
    assert other.status_code == 201, other.text

    text = api.metrics()
    assert 'xorj_trade_duplicates_refused_total{rule="trade_in_flight"} 1.0' in text
    assert "xorj_trades_created_total 2.0" in text


def test_idempotency_key_reused_with_other_parameters(api: Api, vault: str) -> None:
    job_id = api.running_job()
    first = create(api, trade_body(job_id, vault))
    assert first.status_code == 201, first.text

    reused = create(api, trade_body(job_id, vault, expected_amount_out="2501"))
    body = assert_error(reused, 409, "XJ409", rule="idempotency_key_reused")
    assert body["conflicting_trade_id"] == first.json()["trade"]["id"]
    assert 'xorj_trade_duplicates_refused_total{rule="idempotency_key_reused"} 1.0' in (
        api.metrics()
    )


def test_trade_venue_is_recorded_and_part_of_the_idempotent_content(api: Api, vault: str) -> None:
    """venue: live when absent (or null), recorded as given, shown by every trade answer;
    a retry with another venue (or none, for a simulated trade) is idempotency_key_reused;
    an unknown venue is 422 naming it."""
    job_id = api.running_job()
    live = create(api, trade_body(job_id, vault))
    assert live.status_code == 201, live.text
    assert live.json()["trade"]["venue"] == "live"
    null = create(api, trade_body(job_id, vault, venue=None))
    assert null.status_code == 200, null.text  # null is absent: the live trade's replay
    assert null.json()["replay"] is True

    simulated = trade_body(job_id, vault, key="order-2", to_token_address=OTHER_TOKEN)
    first = create(api, {**simulated, "venue": "simulated"})
    assert first.status_code == 201, first.text
    trade = first.json()["trade"]
    assert trade["venue"] == "simulated"
    again = create(api, {**simulated, "venue": "simulated"})
    assert again.status_code == 200, again.text
    assert again.json() == {"replay": True, "trade": trade}
    for other in ({**simulated, "venue": "localnet"}, simulated):
        body = assert_error(create(api, other), 409, "XJ409", rule="idempotency_key_reused")
        assert body["conflicting_trade_id"] == trade["id"]

    bad = create(api, trade_body(job_id, vault, key="order-3", venue="mainnet"))
    body = assert_error(bad, 422, "XJ422", field="venue")
    assert "mainnet" in body["message"]

    assert api.get(f"/internal/trades/{trade['id']}").json()["venue"] == "simulated"
    listed = {
        t["client_order_id"]: t["venue"] for t in api.get("/internal/trades").json()["trades"]
    }
    assert listed == {"order-1": "live", "order-2": "simulated"}


def test_recent_repeat_after_confirmation(api: Api, vault: str) -> None:
    job_id = api.running_job()
    first = create(api, trade_body(job_id, vault)).json()["trade"]
    path = f"/internal/trades/{first['id']}"
    assert api.post(f"{path}/submitted", {"transaction_signature": signature(1)}).status_code == 200
    assert api.post(f"{path}/confirmed", {"actual_amount_out": "2400"}).status_code == 200

    repeat = create(api, trade_body(job_id, vault, key="order-2"))
    body = assert_error(repeat, 409, "XJ409", rule="recent_repeat")
    assert body["conflicting_trade_id"] == first["id"]


def test_disabled_bot_is_not_traded(api: Api, vault: str) -> None:
    job_id = api.running_job()
    disabled = api.as_user(10, "/api/bot/disable")
    assert disabled.status_code == 200, disabled.text

    refused = create(api, trade_body(job_id, vault))
    body = assert_error(refused, 409, "XJ409", rule="bot_not_enabled")
    assert body["conflicting_trade_id"] is None

    unknown = create(api, trade_body(job_id, address(777)))
    assert_error(unknown, 409, "XJ409", rule="bot_not_enabled")
    assert 'xorj_trade_duplicates_refused_total{rule="bot_not_enabled"} 2.0' in api.metrics()


def test_trade_transitions(api: Api, vault: str) -> None:
    job_id = api.running_job()
    trade = create(api, trade_body(job_id, vault)).json()["trade"]
    path = f"/internal/trades/{trade['id']}"

    submitted = api.post(f"{path}/submitted", {"transaction_signature": signature(7)})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["changed"] is True
    assert submitted.json()["trade"]["status"] == "SUBMITTED"
    assert submitted.json()["trade"]["transaction_signature"] == signature(7)
    assert submitted.json()["trade"]["submitted_at"] is not None

    again = api.post(f"{path}/submitted", {"transaction_signature": signature(7)})
    assert again.status_code == 200, again.text
    assert again.json() == {"changed": False, "trade": submitted.json()["trade"]}

    other_sig = api.post(f"{path}/submitted", {"transaction_signature": signature(8)})
    assert_error(other_sig, 409, "XJ423")

    confirmed = api.post(
        f"{path}/confirmed",
        {"actual_amount_out": U64_MAX, "slippage_realized": -0.25, "gas_fee": 5000},
    )
    assert confirmed.status_code == 200, confirmed.text
    done = confirmed.json()
    assert done["changed"] is True
    assert (done["trade"]["status"], done["trade"]["actual_amount_out"]) == ("CONFIRMED", U64_MAX)
    assert (done["trade"]["gas_fee"], done["trade"]["slippage_realized"]) == ("5000", -0.25)

    repeat = api.post(
        f"{path}/confirmed",
        {"actual_amount_out": U64_MAX, "slippage_realized": -0.25, "gas_fee": "5000"},
    )
    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == {"changed": False, "trade": done["trade"]}

    refused = api.post(f"{path}/failed", {"error_message": "too late"})
    body = assert_error(refused, 409, "XJ423")
    assert "CONFIRMED" in body["message"]

    # PENDING -> FAILED on another trade, and its repeat.
    pending = create(
        api, trade_body(job_id, vault, key="order-2", to_token_address=OTHER_TOKEN)
    ).json()["trade"]
    failed = api.post(
        f"/internal/trades/{pending['id']}/failed", {"error_message": "no route", "gas_fee": 0}
    )
    assert failed.status_code == 200, failed.text
    assert failed.json()["changed"] is True
    assert failed.json()["trade"]["status"] == "FAILED"
    assert failed.json()["trade"]["error_message"] == "no route"
    assert failed.json()["trade"]["gas_fee"] == "0"
    # The client states it never sent it: the basis the database requires (issue 14).
    assert failed.json()["trade"]["failure_basis"] == "never_broadcast"
    assert done["trade"]["failure_basis"] is None
    other_basis = api.post(
        f"/internal/trades/{pending['id']}/failed",
        {"error_message": "no route", "failure_basis": "not_found_on_chain"},
    )
    assert other_basis.status_code == 400, other_basis.text  # only the database finds one
    assert other_basis.json()["field"] == "failure_basis"
    failed_again = api.post(
        f"/internal/trades/{pending['id']}/failed", {"error_message": "no route", "gas_fee": "0"}
    )
    assert failed_again.status_code == 200, failed_again.text
    assert failed_again.json() == {"changed": False, "trade": failed.json()["trade"]}

    text = api.metrics()
    for status in ("SUBMITTED", "CONFIRMED", "FAILED"):
        assert f'xorj_trade_transitions_total{{to="{status}"}} 1.0' in text

    missing = api.post(
        "/internal/trades/00000000-0000-4000-8000-000000000000/submitted",
        {"transaction_signature": signature(9)},
    )
    assert_error(missing, 404, "XJ404")


def test_u64_amounts(api: Api, vault: str) -> None:
    job_id = api.running_job()
    pairs = iter(range(1000, 1100))

    def body(**amounts: Any) -> dict[str, Any]:
        n = next(pairs)
        return trade_body(job_id, vault, key=f"order-{n}", to_token_address=address(n), **amounts)

    biggest = create(api, body(amount_in=U64_MAX, expected_amount_out=U64_MAX))
    assert biggest.status_code == 201, biggest.text
    trade = biggest.json()["trade"]
    assert (trade["amount_in"], trade["expected_amount_out"]) == (U64_MAX, U64_MAX)
    fetched = api.get(f"/internal/trades/{trade['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["amount_in"] == U64_MAX

    as_integer = create(api, body(amount_in=2**60 + 1, expected_amount_out="0"))
    assert as_integer.status_code == 201, as_integer.text
    assert as_integer.json()["trade"]["amount_in"] == str(2**60 + 1)
    assert as_integer.json()["trade"]["expected_amount_out"] == "0"

    # Out of range: the database says so and names the field.
    for value in ("18446744073709551616", 18446744073709551616, -1, 0):
        response = create(api, body(amount_in=value))
        body_ = assert_error(response, 422, "XJ422", field="amount_in")
        assert "amount_in" in body_["message"]
    response = create(api, body(expected_amount_out="18446744073709551616"))
    assert_error(response, 422, "XJ422", field="expected_amount_out")

    # Not a JSON integer or a string of digits: refused before the database (which would
    # never see the rounding of 1.0), 422 naming the field.
    for value in (
        *(1.5, 1.0, "1.5", "1e5", "-1", "", " 1", "0x10", "\u0661\u0662", True, None),
        "0" * 18 + "1000",  # 22 digits: more than the schema's ^[0-9]{1,20}$, zeros or not
    ):
        response = create(api, body(amount_in=value))
        body_ = assert_error(response, 422, "XJ422", field="amount_in")
        assert "amount_in" in body_["message"], (value, response.text)
    # A trailing newline is not a digit either.
    response = create(api, body(amount_in="12\n"))
    assert_error(response, 422, "XJ422", field="amount_in")

    # Nothing but the two valid creations was saved.
    listed = api.get("/internal/trades")
    assert listed.status_code == 200
    assert len(listed.json()["trades"]) == 2


def test_recover_lists_submitted_then_old_pending(api: Api, vault: str) -> None:
    job_id = api.running_job()
    pending = create(api, trade_body(job_id, vault, key="a")).json()["trade"]
    submitted = create(
        api, trade_body(job_id, vault, key="b", to_token_address=OTHER_TOKEN)
    ).json()["trade"]
    sent = api.post(
        f"/internal/trades/{submitted['id']}/submitted", {"transaction_signature": signature(3)}
    )
    assert sent.status_code == 200, sent.text

    everything = api.get("/internal/trades/recover")
    assert everything.status_code == 200, everything.text
    assert [(t["id"], t["status"]) for t in everything.json()["trades"]] == [
        (submitted["id"], "SUBMITTED"),
        (pending["id"], "PENDING"),
    ]

    only_submitted = api.get("/internal/trades/recover", pending_older_than_seconds=3600)
    assert only_submitted.status_code == 200, only_submitted.text
    assert [t["id"] for t in only_submitted.json()["trades"]] == [submitted["id"]]

    limited = api.get("/internal/trades/recover", limit=1)
    assert [t["id"] for t in limited.json()["trades"]] == [submitted["id"]]

    assert "xorj_trade_recovery_listings_total 4.0" in api.metrics()  # 2 + 1 + 1

    ancient = api.get("/internal/trades/recover", pending_older_than_seconds=10**11)
    assert ancient.status_code == 200, ancient.text
    assert [t["id"] for t in ancient.json()["trades"]] == [submitted["id"]]
    too_old = api.get("/internal/trades/recover", pending_older_than_seconds=MAX_SECONDS + 1)
    assert_error(too_old, 400, "bad_request")
    assert "pending_older_than_seconds" in too_old.json()["detail"]

    negative = api.get("/internal/trades/recover", pending_older_than_seconds=-1)
    assert_error(negative, 422, "XJ422", field="pending_older_than")
    zero_limit = api.get("/internal/trades/recover", limit=0)
    assert_error(zero_limit, 422, "XJ422", field="limit")


def test_list_trades_by_status_and_vault(api: Api, vault: str) -> None:
    other_vault = address(501)
    api.enable_bot(11, other_vault)
    job_id = api.running_job()
    a = create(api, trade_body(job_id, vault, key="a")).json()["trade"]
    b = create(api, trade_body(job_id, other_vault, key="b")).json()["trade"]
    sent = api.post(
        f"/internal/trades/{b['id']}/submitted", {"transaction_signature": signature(4)}
    )
    assert sent.status_code == 200

    everything = api.get("/internal/trades")
    assert everything.status_code == 200, everything.text
    assert [t["id"] for t in everything.json()["trades"]] == [b["id"], a["id"]]  # newest first

    by_status = api.get("/internal/trades", status="PENDING")
    assert by_status.status_code == 200
    assert [t["id"] for t in by_status.json()["trades"]] == [a["id"]]

    by_vault = api.get("/internal/trades", vault=other_vault)
    assert [t["id"] for t in by_vault.json()["trades"]] == [b["id"]]

    both = api.get("/internal/trades", vault=vault, status="SUBMITTED")
    assert both.json() == {"trades": []}

    paged = api.get("/internal/trades", limit=1, offset=1)
    assert [t["id"] for t in paged.json()["trades"]] == [a["id"]]

    assert_error(api.get("/internal/trades", status="DONE"), 422, "XJ422", field="status")
    assert_error(api.get("/internal/trades", vault="0OIl"), 422, "XJ422", field="vault")


def test_get_trade_and_events(api: Api, vault: str) -> None:
    job_id = api.running_job()
    trade = create(api, trade_body(job_id, vault)).json()["trade"]
    path = f"/internal/trades/{trade['id']}"

    fetched = api.get(path)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == trade

    sent = api.post(f"{path}/submitted", {"transaction_signature": signature(5)})
    assert sent.status_code == 200

    events = api.get(f"{path}/events")
    assert events.status_code == 200, events.text
    rows = events.json()["events"]
    assert [(e["from_status"], e["to_status"]) for e in rows] == [
        (None, "PENDING"),
        ("PENDING", "SUBMITTED"),
    ]
    assert {e["trade_id"] for e in rows} == {trade["id"]}
    assert {e["actor"] for e in rows} == {"bot:bot-service"}
    assert rows[0]["detail"] == {"job_id": job_id, "client_order_id": "order-1"}
    assert rows[1]["detail"] == {"transaction_signature": signature(5)}

    missing = api.get("/internal/trades/00000000-0000-4000-8000-000000000000")
    assert_error(missing, 404, "XJ404")


# --- who may call what -----------------------------------------------------------------

RUN = "00000000-0000-4000-8000-000000000001"
ENGINE_CALLS = [
    ("post", "/internal/scoring-runs"),
    ("post", f"/internal/scoring-runs/{RUN}/start"),
    ("post", f"/internal/scoring-runs/{RUN}/complete"),
    ("post", f"/internal/scoring-runs/{RUN}/fail"),
]
BOT_CALLS = [
    ("post", "/internal/execution-jobs"),
    ("post", "/internal/execution-jobs/reap"),
    ("post", f"/internal/execution-jobs/{RUN}/start"),
    ("post", f"/internal/execution-jobs/{RUN}/heartbeat"),
    ("post", f"/internal/execution-jobs/{RUN}/complete"),
    ("post", f"/internal/execution-jobs/{RUN}/fail"),
    ("post", "/internal/trades"),
    ("get", "/internal/trades"),
    ("get", "/internal/trades/recover"),
    ("get", f"/internal/trades/{RUN}"),
    ("get", f"/internal/trades/{RUN}/events"),
    ("post", f"/internal/trades/{RUN}/submitted"),
    ("post", f"/internal/trades/{RUN}/confirmed"),
    ("post", f"/internal/trades/{RUN}/failed"),
]
SERVICE_CALLS = [
    ("get", "/internal/ranked-traders"),
    ("get", f"/internal/scoring-runs/{RUN}/scores"),
]


def _send(api: Api, method: str, path: str, who: str) -> Any:
    # A body that would be invalid: the guard must answer before the body is read.
    if method == "post":
        return api.client.post(path, headers=api.headers[who], json={"unknown": 1})
    return api.client.get(path, headers=api.headers[who])


def test_tokens_reach_only_their_endpoints(api: Api) -> None:
    for method, path in ENGINE_CALLS + BOT_CALLS + SERVICE_CALLS:
        assert_error(_send(api, method, path, "user"), 403, "forbidden")
        response = _send(api, method, path, "none")
        assert_error(response, 401, "unauthorized")
        assert response.json()["error"] == "Missing or invalid authorization header"
    for method, path in ENGINE_CALLS:
        body = assert_error(_send(api, method, path, "bot"), 403, "forbidden")
        assert "quant engine" in body["message"]
    for method, path in BOT_CALLS:
        body = assert_error(_send(api, method, path, "engine"), 403, "forbidden")
        assert "execution bot" in body["message"]
    for who in ("engine", "bot"):
        for method, path in SERVICE_CALLS:
            response = _send(api, method, path, who)
            assert response.status_code in (200, 404), (who, path, response.text)
    # Nothing was created by the refused calls.
    assert api.get("/internal/trades").json() == {"trades": []}


def test_bad_paths_and_bodies_are_json_errors(api: Api) -> None:
    for path in (
        "/internal/trades/not-a-uuid",
        "/internal/trades/not-a-uuid/events",
        "/internal/scoring-runs/123/scores",
    ):
        response = api.get(path)
        assert_error(response, 404, "not_found")
    response = api.post("/internal/scoring-runs/not-a-uuid/start", who="engine")
    assert_error(response, 404, "not_found")

    job_id = api.running_job()
    unknown = api.post("/internal/trades", {**trade_body(job_id, address(500)), "extra": 1})
    assert_error(unknown, 400, "bad_request")
    assert "extra" in unknown.json()["detail"]

    wrong_type = api.post(f"/internal/execution-jobs/{job_id}/heartbeat", {"worker_id": 5})
    assert_error(wrong_type, 400, "bad_request")
    assert "worker_id" in wrong_type.json()["detail"]

    bad_uuid = api.post("/internal/trades", trade_body("not-a-uuid", address(500)))
    assert_error(bad_uuid, 400, "bad_request")
    assert "job_id" in bad_uuid.json()["detail"]

    missing = api.post("/internal/trades", {"job_id": job_id})
    assert_error(missing, 400, "bad_request")
    assert "user_vault_address" in missing.json()["detail"]

    malformed = api.client.post(
        "/internal/execution-jobs",
        headers={**api.headers["bot"], "Content-Type": "application/json"},
        content=b'{"trigger_reason": ',
    )
    body = assert_error(malformed, 400, "bad_request")
    assert body["message"] == "the body is not valid JSON: Input data was truncated"

    no_scores = api.post(f"/internal/scoring-runs/{RUN}/complete", {}, who="engine")
    assert_error(no_scores, 400, "bad_request")
    assert "scores" in no_scores.json()["detail"]


def test_openapi_lists_internal_paths_with_bodies(api: Api) -> None:
    response = api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    paths = doc["paths"]
    bodies = {
        ("/internal/scoring-runs/{run_id}/complete", "post"): "CompleteRunBody",
        ("/internal/scoring-runs/{run_id}/fail", "post"): "FailRunBody",
        ("/internal/execution-jobs", "post"): "CreateJobBody",
        ("/internal/execution-jobs/reap", "post"): "ReapBody",
        ("/internal/execution-jobs/{job_id}/start", "post"): "WorkerBody",
        ("/internal/execution-jobs/{job_id}/heartbeat", "post"): "WorkerBody",
        ("/internal/execution-jobs/{job_id}/complete", "post"): "WorkerBody",
        ("/internal/execution-jobs/{job_id}/fail", "post"): "FailJobBody",
        ("/internal/trades", "post"): "CreateTradeBody",
        ("/internal/trades/{trade_id}/submitted", "post"): "SubmittedBody",
        ("/internal/trades/{trade_id}/confirmed", "post"): "ConfirmedBody",
        ("/internal/trades/{trade_id}/failed", "post"): "FailedBody",
    }
    for (path, method), schema in bodies.items():
        operation = paths[path][method]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{schema}", (path, ref)
        assert operation["requestBody"]["required"] is True
    for path in (
        "/internal/scoring-runs",
        "/internal/scoring-runs/{run_id}/start",
        "/internal/scoring-runs/{run_id}/scores",
        "/internal/ranked-traders",
        "/internal/trades/recover",
        "/internal/trades/{trade_id}",
        "/internal/trades/{trade_id}/events",
    ):
        assert path in paths
    create_trade = paths["/internal/trades"]["post"]["responses"]
    assert {"201", "200", "409"} <= set(create_trade)
    schemas = doc["components"]["schemas"]
    trade_body_schema = schemas["CreateTradeBody"]
    assert set(trade_body_schema["required"]) == {
        "job_id",
        "user_vault_address",
        "client_order_id",
        "from_token_address",
        "to_token_address",
        "amount_in",
        "expected_amount_out",
    }
    amount_types = {s["type"] for s in trade_body_schema["properties"]["amount_in"]["oneOf"]}
    assert amount_types == {"integer", "string"}
    assert schemas["Trade"]["properties"]["amount_in"]["type"] == "string"


def test_submitted_records_the_height_and_checks_the_claim(api: Api, vault: str) -> None:
    """The bot's protocol over HTTP: the last valid block height is recorded with the
    signature, and a bot that no longer holds the trade's claim may not record it."""
    job_id = api.running_job()
    body = trade_body(job_id, vault, "claimed-1")
    trade = create(api, body).json()["trade"]
    path = f"/internal/trades/{trade['id']}/submitted"

    lost = api.post(
        path,
        {
            "transaction_signature": signature(31),
            "last_valid_block_height": 900,
            "worker_id": "bot-b",
        },
    )
    assert_error(lost, 409, "XJ409", rule="claim_lost")

    # Created without a claim: recording it as the claim's holder needs none; with no
    # worker id the claim is not checked.
    done = api.post(path, {"transaction_signature": signature(31), "last_valid_block_height": 900})
    assert done.status_code == 200, done.text
    assert done.json()["trade"]["last_valid_block_height"] == 900

    bad = api.post(path, {"transaction_signature": signature(31), "last_valid_block_height": -1})
    assert bad.status_code in (409, 422), bad.text


def test_an_empty_run_completes_only_when_allowed(api: Api) -> None:
    """A run with no score would become the latest and leave nobody to follow: the
    database refuses it unless the engine says allow_empty."""
    run_id, refused = complete_run(api, [])
    assert_error(refused, 422, "XJ422", field="scores")
    allowed = api.post(
        f"/internal/scoring-runs/{run_id}/complete",
        {"scores": [], "allow_empty": True},
        who="engine",
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["status"] == "COMPLETED"
