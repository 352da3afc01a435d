"""app.config: which database the environment names, in the forms libpq and yoyo read."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend

from app.config import ConfigError, external_database_url, max_connections, yoyo_url

SEED = {
    "DATABASE_HOST": "db.example.com",
    "DATABASE_PORT": "6543",
    "DATABASE_NAME": "xorj_bot_state",
    "DATABASE_USER": "bot user@corp:1/x",
    "DATABASE_PASSWORD": " p@ss:w/rd%+?#& ",
}


def params(url: str) -> dict[str, str]:
    """What libpq makes of a URL."""
    return {k: str(v) for k, v in conninfo_to_dict(url).items()}


# --- DATABASE_URL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:p@h:5432/d?sslmode=require", "postgres://u@h/d", "postgresql:///d"],
)
def test_database_url_is_used_as_given(url: str) -> None:
    assert external_database_url({"DATABASE_URL": f"  {url}\n"}) == url


def test_database_url_wins_over_the_seed_variables() -> None:
    url = "postgresql://u@h/d"
    assert external_database_url({**SEED, "DATABASE_URL": url}) == url


@pytest.mark.parametrize("url", ["mysql://u@h/d", "h:5432/d", "postgresql+psycopg://u@h/d"])
def test_database_url_of_another_kind_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        external_database_url({"DATABASE_URL": url})


# --- the five seed variables -----------------------------------------------------------


def test_seed_variables_make_a_url_with_user_and_password_encoded() -> None:
    url = external_database_url(SEED)
    assert url is not None
    assert url.startswith("postgresql://")
    assert params(url) == {
        "host": "db.example.com",
        "port": "6543",
        "dbname": "xorj_bot_state",
        "user": "bot user@corp:1/x",
        "password": " p@ss:w/rd%+?#& ",
        "sslmode": "prefer",
    }


@pytest.mark.parametrize(
    ("ssl", "sslmode"),
    [
        ("true", "require"),
        ("TRUE", "require"),
        ("1", "require"),
        ("false", "disable"),
        ("False", "disable"),
        ("0", "disable"),
        (None, "prefer"),
        ("", "prefer"),
    ],
)
def test_database_ssl_gives_the_sslmode(ssl: str | None, sslmode: str) -> None:
    env = dict(SEED) if ssl is None else {**SEED, "DATABASE_SSL": ssl}
    url = external_database_url(env)
    assert url is not None
    assert params(url)["sslmode"] == sslmode


def test_unset_seed_variables_take_their_defaults() -> None:
    url = external_database_url({"DATABASE_USER": "bot"})
    assert url is not None
    assert params(url) == {
        "host": "localhost",
        "port": "5432",
        "dbname": "xorj_bot_state",
        "user": "bot",
        "sslmode": "prefer",
    }


@pytest.mark.parametrize(
    "socket_dir", ["/var/run/postgresql", "/tmp/xorj state/run", "/srv/a+b/.s"]
)
def test_socket_directory_host_reaches_libpq_unchanged(socket_dir: str) -> None:
    url = external_database_url({"DATABASE_HOST": socket_dir, "DATABASE_NAME": "xorj"})
    assert url is not None
    assert params(url)["host"] == socket_dir


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "54 32", "5432.0"])
def test_bad_database_port_is_refused(port: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_PORT"):
        external_database_url({**SEED, "DATABASE_PORT": port})


@pytest.mark.parametrize("ssl", ["maybe", "2", "required", "verify"])
def test_bad_database_ssl_is_refused(ssl: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_SSL"):
        external_database_url({**SEED, "DATABASE_SSL": ssl})


@pytest.mark.parametrize("sslmode", ["disable", "allow", "prefer", "require", "Prefer"])
def test_database_ssl_may_be_an_sslmode(sslmode: str) -> None:
    url = external_database_url({**SEED, "DATABASE_SSL": sslmode})
    assert url is not None
    assert params(url)["sslmode"] == sslmode.lower()


@pytest.mark.parametrize("sslmode", ["verify-ca", "verify-full"])
def test_verifying_sslmodes_take_the_root_certificate(tmp_path, sslmode: str) -> None:
    cert = tmp_path / "root.crt"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {**SEED, "DATABASE_SSL": sslmode, "DATABASE_SSL_ROOT_CERT": str(cert)}
    url = external_database_url(env)
    assert url is not None
    assert params(url)["sslmode"] == sslmode
    assert params(url)["sslrootcert"] == str(cert)
    url = external_database_url({"DATABASE_URL": "postgresql://u@h/d", **env})
    assert url is not None
    assert params(url)["sslmode"] == sslmode
    assert params(url)["sslrootcert"] == str(cert)


@pytest.mark.parametrize("sslmode", ["verify-ca", "verify-full"])
def test_verifying_sslmodes_without_a_root_certificate_are_refused(
    tmp_path, monkeypatch: pytest.MonkeyPatch, sslmode: str
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt
    with pytest.raises(ConfigError, match="DATABASE_SSL_ROOT_CERT"):
        external_database_url({**SEED, "DATABASE_SSL": sslmode})
    with pytest.raises(ConfigError, match="DATABASE_SSL_ROOT_CERT"):
        external_database_url(
            {**SEED, "DATABASE_SSL": sslmode, "DATABASE_SSL_ROOT_CERT": str(tmp_path / "none")}
        )


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DATABASE_URL": ""},
        {"DATABASE_URL": "  ", "DATABASE_HOST": " ", "DATABASE_NAME": ""},
        {"DATABASE_SSL": "true", "DATABASE_MAX_CONNECTIONS": "5"},
    ],
)
def test_no_database_named_gives_none(env: dict[str, str]) -> None:
    assert external_database_url(env) is None


# --- yoyo_url, max_connections ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://u:p@h:5432/d?sslmode=require",
            "postgresql+psycopg://u:p@h:5432/d?sslmode=require",
        ),
        ("postgres://u@/d?host=/run/pg", "postgresql+psycopg://u@/d?host=/run/pg"),
    ],
)
def test_yoyo_url_names_the_psycopg_backend(url: str, expected: str) -> None:
    assert yoyo_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://u@h/d", "postgresql+psycopg://u@h/d", "", "d"])
def test_yoyo_url_refuses_other_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        yoyo_url(url)


@pytest.mark.parametrize(
    ("raw", "size"), [(None, 5), ("", 5), ("1", 1), (" 50 ", 50), ("1000", 1000)]
)
def test_max_connections_within_bounds(raw: str | None, size: int) -> None:
    env = {} if raw is None else {"DATABASE_MAX_CONNECTIONS": raw}
    assert max_connections(env) == size


@pytest.mark.parametrize("raw", ["0", "1001", "-5", "ten", "2.5"])
def test_max_connections_out_of_bounds_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_MAX_CONNECTIONS"):
        max_connections({"DATABASE_MAX_CONNECTIONS": raw})


# --- the URLs connect -------------------------------------------------------------------


def seed_for(url: str, **extra: str) -> dict[str, str]:
    """The seed variables naming the database of `url` (a test database's)."""
    p = params(url)
    env = {
        "DATABASE_HOST": p.get("host", ""),
        "DATABASE_PORT": p.get("port", ""),
        "DATABASE_NAME": p["dbname"],
        "DATABASE_USER": p["user"],
        "DATABASE_PASSWORD": p.get("password", ""),
    }
    return {**env, **extra}


@pytest.mark.parametrize("ssl", [None, "false"])
def test_seed_variables_url_connects(empty_db_url: str, ssl: str | None) -> None:
    extra = {} if ssl is None else {"DATABASE_SSL": ssl}
    env = seed_for(empty_db_url, **extra)
    if not params(empty_db_url).get("password"):
        # The test server trusts its socket: a password is sent but not needed. That it is
        # sent intact is test_seed_variables_make_a_url_with_user_and_password_encoded's.
        env["DATABASE_PASSWORD"] = "p@ss:w/rd%"
    url = external_database_url(env)
    assert url is not None
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
    expected = params(empty_db_url)
    assert row == (expected["user"], expected["dbname"])


def test_database_url_and_its_yoyo_form_connect(empty_db_url: str) -> None:
    url = external_database_url({"DATABASE_URL": empty_db_url})
    assert url == empty_db_url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (
            params(empty_db_url)["dbname"],
        )
    backend = get_backend(yoyo_url(url))
    try:
        cursor = backend.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == params(empty_db_url)["dbname"]
    finally:
        backend.connection.close()
