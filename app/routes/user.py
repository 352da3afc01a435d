"""The original system's user endpoints, for the token's own wallet (role xorj_api):
`UserController`, the bot (/api/bot/status, enable, disable) and the risk settings
(/api/user/settings, with ETag and If-Match), with their bodies and answers. Each handler
runs one Call of app/dbapi/bots.py or settings.py, which act for the wallet of the
verified claims."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post, put
from litestar.params import FromQuery, JSONBody

from app.dbapi import bots, settings
from app.dbapi.core import as_text
from app.errors import ApiError, now_iso
from app.routes.common import DEPENDENCIES, Db, Door, principal, request_id, user_only
from app.routes.inputs import Body
from app.routes.openapi import errors


class Configuration(msgspec.Struct):
    risk_profile: str
    slippage_tolerance: float
    enabled: bool
    max_trade_amount: float | None


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


class EnableBody(Body):
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
    maxDrawdownLimit: float
    positionSizePercent: float
    stopLossEnabled: bool
    takeProfitEnabled: bool
    investmentAmount: float | None
    lastUpdated: str
    createdAt: str
    version: int


class SettingsEnvelope(msgspec.Struct):
    success: bool
    data: UserSettings | None
    timestamp: str
    requestId: str | None


class SettingsFields(Body, omit_defaults=True):
    maxDrawdownLimit: Any = msgspec.UNSET
    positionSizePercent: Any = msgspec.UNSET
    stopLossEnabled: Any = msgspec.UNSET
    takeProfitEnabled: Any = msgspec.UNSET
    riskProfile: Any = msgspec.UNSET
    investmentAmount: Any = msgspec.UNSET


class SettingsBody(Body):
    """The original POST body: fields may come at the top or inside `settings`. Values
    are checked by the database (types, ranges), which names the field it refuses."""

    walletAddress: str | None = None
    riskProfile: Any = msgspec.UNSET
    investmentAmount: Any = msgspec.UNSET
    settings: SettingsFields | None = None


def _bot_status(value: dict[str, Any]) -> BotStatus:
    return msgspec.convert(value, BotStatus, strict=False)


async def _change(request: Request, db: Door, enable: bool, vault: str | None) -> BotChange:
    result = await db.run(bots.enable(vault) if enable else bots.disable())
    status = _bot_status(result["status"])
    verb = "enabled" if enable else "disabled"
    message = f"Bot {verb}" if result["changed"] else f"Bot already {verb}"
    if enable and not status.canTrade:
        message += "; register a vault (vaultAddress) before it can trade"
    return BotChange(
        True, message, status.isBotActive, result["changed"], status, now_iso(), request_id(request)
    )


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


async def _save(request: Request, db: Door, data: SettingsBody) -> Response[SettingsEnvelope]:
    _own_wallet(request, data.walletAddress)
    patch: dict[str, Any] = {}
    if data.settings is not None:
        patch.update(msgspec.to_builtins(data.settings))
    for name in ("riskProfile", "investmentAmount"):
        value = getattr(data, name)
        if value is msgspec.UNSET:
            continue
        if name in patch and patch[name] != value:
            # Which one was meant? Neither is dropped silently.
            raise ApiError(
                400,
                "bad_request",
                f"{name} is given twice, at the top and inside settings, with different values",
                hint="Send each field once.",
                field=name,
            )
        patch[name] = value
    # The patch goes as JSON text: the database checks each value.
    patch_json = msgspec.json.encode(patch).decode()
    saved = await db.run(settings.update(patch_json, _expected_version(request)))
    return _settings_response(request, saved)


class UserController(Controller):
    path = "/api"
    guards = (user_only,)
    dependencies = DEPENDENCIES
    tags = ("user",)

    @get("/bot/status", summary="The caller's bot: state, configuration, performance")
    async def bot_status(self, db: Db) -> Response[BotStatus]:
        """The caller's bot, from the database: active or stopped, its vault, whether it
        can trade, its configuration (the risk settings), its performance and circuit
        breakers from its trades."""
        # The database's JSON object has BotStatus's fields (procedures/bot_states.sql):
        # passed on as the database wrote it, never decoded here.
        body = await db.run(as_text(bots.status()))
        return Response(body.encode(), media_type=MediaType.JSON)

    @post(
        "/bot/enable",
        status_code=200,
        summary="Enable the caller's bot, optionally registering its vault",
        responses=errors(409),
    )
    async def enable_bot(
        self, request: Request, db: Db, data: JSONBody[EnableBody | None] = None
    ) -> BotChange:
        """Enable the caller's bot; with vaultAddress, register (or change) its vault. The
        body is optional. A vault registered to another wallet is refused (409)."""
        return await _change(request, db, True, data.vaultAddress if data else None)

    @post("/bot/disable", status_code=200, summary="Disable the caller's bot")
    async def disable_bot(self, request: Request, db: Db) -> BotChange:
        """Disable the caller's bot (again: changed false)."""
        return await _change(request, db, False, None)

    @get("/user/settings", summary="The caller's risk settings (data null if never saved)")
    async def get_settings(
        self, request: Request, db: Db, walletAddress: FromQuery[str | None] = None
    ) -> Response[SettingsEnvelope]:
        """The caller's risk settings (data null if never saved), with their version as
        ETag. walletAddress, when given, must be the token's wallet (403)."""
        _own_wallet(request, walletAddress)
        return _settings_response(request, await db.run(settings.get()))

    @post(
        "/user/settings",
        status_code=200,
        summary="Save the caller's risk settings",
        responses=errors(412),
    )
    async def post_settings(
        self, request: Request, db: Db, data: JSONBody[SettingsBody]
    ) -> Response[SettingsEnvelope]:
        """Save some or all of the caller's risk settings (fields at the top or inside
        `settings`); the database checks each value (422 naming the field). With
        If-Match: "<version>", a save over a newer version is refused (412)."""
        return await _save(request, db, data)

    @put("/user/settings", summary="Save the caller's risk settings", responses=errors(412))
    async def put_settings(
        self, request: Request, db: Db, data: JSONBody[SettingsBody]
    ) -> Response[SettingsEnvelope]:
        """The same as POST /api/user/settings."""
        return await _save(request, db, data)
