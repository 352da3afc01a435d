"""The original system's endpoints, for the token's own wallet (xorj_api)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import FromQuery, JSONBody

from app.errors import ApiError, now_iso
from app.routes.common import one, principal, request_id, user_only


class Configuration(msgspec.Struct):
    risk_profile: str
    slippage_tolerance: float
    enabled: bool
    max_trade_amount: float | int | None


class BotStatus(msgspec.Struct):
    user_id: str
    status: str
    isBotActive: bool
    vaultAddress: str | None
    canTrade: bool
    last_execution: str | None
    configuration: Configuration
    performance: dict[str, Any]
    circuit_breakers: dict[str, Any]


class EnableBody(msgspec.Struct, forbid_unknown_fields=True):
    vaultAddress: str | None = None


class BotChange(msgspec.Struct):
    success: bool
    message: str
    enabled: bool
    changed: bool
    status: BotStatus
    timestamp: str
    requestId: str | None


class UserSettings(msgspec.Struct):
    walletAddress: str
    riskProfile: str
    maxDrawdownLimit: float | int
    positionSizePercent: float | int
    stopLossEnabled: bool
    takeProfitEnabled: bool
    investmentAmount: float | int | None
    lastUpdated: str
    createdAt: str
    version: int


class SettingsEnvelope(msgspec.Struct):
    success: bool
    data: UserSettings | None
    timestamp: str
    requestId: str | None


class SettingsFields(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    maxDrawdownLimit: Any = msgspec.UNSET
    positionSizePercent: Any = msgspec.UNSET
    stopLossEnabled: Any = msgspec.UNSET
    takeProfitEnabled: Any = msgspec.UNSET
    riskProfile: Any = msgspec.UNSET
    investmentAmount: Any = msgspec.UNSET


class SettingsBody(msgspec.Struct, forbid_unknown_fields=True):
    """The original POST body: fields may come at the top or inside `settings`. Values
    are checked by the database (types, ranges), which names the field it refuses."""

    walletAddress: str | None = None
    riskProfile: Any = msgspec.UNSET
    investmentAmount: Any = msgspec.UNSET
    settings: SettingsFields | None = None


def _bot_status(value: dict[str, Any]) -> BotStatus:
    return msgspec.convert(value, BotStatus, strict=False)


@get(
    "/api/bot/status",
    guards=[user_only],
    summary="The caller's bot: state, configuration, performance",
)
async def bot_status(request: Request) -> BotStatus:
    return _bot_status(await one(request, "SELECT api.bot_status()"))


async def _change(request: Request, enable: bool, vault: str | None) -> BotChange:
    if enable:
        result = await one(request, "SELECT api.enable_bot(%s)", vault)
    else:
        result = await one(request, "SELECT api.disable_bot()")
    status = _bot_status(result["status"])
    verb = "enabled" if enable else "disabled"
    message = f"Bot {verb}" if result["changed"] else f"Bot already {verb}"
    if enable and not status.canTrade:
        message += "; register a vault (vaultAddress) before it can trade"
    return BotChange(
        True, message, status.isBotActive, result["changed"], status, now_iso(), request_id(request)
    )


@post(
    "/api/bot/enable",
    guards=[user_only],
    status_code=200,
    summary="Enable the caller's bot, optionally registering its vault",
)
async def enable_bot(request: Request, data: JSONBody[EnableBody | None] = None) -> BotChange:
    return await _change(request, True, data.vaultAddress if data else None)


@post("/api/bot/disable", guards=[user_only], status_code=200, summary="Disable the caller's bot")
async def disable_bot(request: Request) -> BotChange:
    return await _change(request, False, None)


def _own_wallet(request: Request, given: str | None) -> str:
    """An early, clearer 403 for another wallet's walletAddress; the database acts for the
    token's wallet whatever the request says (xorj.claimed_wallet())."""
    wallet = principal(request).wallet
    assert wallet is not None
    if given is not None and given != wallet:
        raise ApiError(
            403,
            "forbidden",
            "walletAddress is not the wallet of the token",
            hint="A user reads and changes only the settings of its own wallet.",
            field="walletAddress",
        )
    return wallet


def _settings_response(
    request: Request, data: dict[str, Any] | None, status: int = 200
) -> Response[SettingsEnvelope]:
    body = SettingsEnvelope(
        True,
        msgspec.convert(data, UserSettings, strict=False) if data is not None else None,
        now_iso(),
        request_id(request),
    )
    headers = {"ETag": f'"{data["version"]}"'} if data is not None else {}
    return Response(body, status_code=status, headers=headers)


@get(
    "/api/user/settings",
    guards=[user_only],
    summary="The caller's risk settings (data null if never saved)",
)
async def get_settings(
    request: Request, walletAddress: FromQuery[str | None] = None
) -> Response[SettingsEnvelope]:
    _own_wallet(request, walletAddress)
    return _settings_response(request, await one(request, "SELECT api.get_user_settings()"))


def _expected_version(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise ApiError(
            400, "bad_request", 'If-Match must be a version ETag such as "3"', field="If-Match"
        )
    return int(value)


async def _save(request: Request, data: SettingsBody) -> Response[SettingsEnvelope]:
    _own_wallet(request, data.walletAddress)
    patch: dict[str, Any] = {}
    if data.settings is not None:
        patch.update(msgspec.to_builtins(data.settings))
    for name in ("riskProfile", "investmentAmount"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            patch[name] = value
    saved = await one(
        request,
        "SELECT api.update_user_settings(%s, %s::bigint)",
        msgspec.json.encode(patch).decode(),
        _expected_version(request),
    )
    return _settings_response(request, saved)


@post("/api/user/settings", guards=[user_only], summary="Save the caller's risk settings")
async def post_settings(
    request: Request, data: JSONBody[SettingsBody]
) -> Response[SettingsEnvelope]:
    return await _save(request, data)


@put("/api/user/settings", guards=[user_only], summary="Save the caller's risk settings")
async def put_settings(
    request: Request, data: JSONBody[SettingsBody]
) -> Response[SettingsEnvelope]:
    return await _save(request, data)


handlers = [bot_status, enable_bot, disable_bot, get_settings, post_settings, put_settings]
