"""Each user's risk settings (procedures/user_settings.sql); role xorj_api, for the
wallet of the verified claims."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from app.dbapi.core import Call, api, typed


def get() -> Call:
    """The caller's settings as JSON, None when never saved."""
    return api("get_user_settings")


def update(patch: dict[str, Any] | str, expected_version: int | None = None) -> Call:
    """Apply a patch (a dict, or its JSON text) to the caller's settings, refused (XJ412)
    when `expected_version` is given and not the current one: the settings as JSON."""
    value = typed(patch, "jsonb") if isinstance(patch, str) else Jsonb(patch)
    return api(
        "update_user_settings", patch=value, expected_version=typed(expected_version, "bigint")
    )
