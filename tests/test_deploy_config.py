"""Configuration as deployments give it, against a real server: TLS with the server's
certificate verified (DATABASE_SSL=verify-full and DATABASE_SSL_ROOT_CERT), passwords
with @ : / ? # % through the DATABASE_* variables and percent-encoded in DATABASE_URL,
and the `.env` / `.env.local` files read at start with the environment winning."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psycopg import sql

from app.config import ConfigError, external_database_url
from tests.conftest import BIN, cli_env
from tests.scratch_cluster import ScratchCluster

PASSWORD = "p@ss:w/rd?#%& x"
USER = "deploy_user"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name = (
        name if issuer is None else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])])
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
    return builder.sign(key if issuer is None else issuer[1], hashes.SHA256())


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScratchCluster, Path, Path]]:
    """A cluster with TLS on 127.0.0.1 and password logins, its CA's certificate, and the
    certificate of another CA (which must be refused)."""
    directory = tmp_path_factory.mktemp("tls")
    ca_key, server_key, other_key = _key(), _key(), _key()
    ca = _certificate("xorj test CA", ca_key, None)
    server = _certificate("localhost", server_key, ("xorj test CA", ca_key))
    other = _certificate("another CA", other_key, None)
    pem = serialization.Encoding.PEM
    ca_file = _write(directory / "ca.pem", ca.public_bytes(pem))
    other_file = _write(directory / "other.pem", other.public_bytes(pem))
    cert_file = _write(directory / "server.crt", server.public_bytes(pem))
    key_file = _write(directory / "server.key", _pem(server_key))
    cluster = ScratchCluster.create(ssl_files=(cert_file, key_file))
    try:
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(USER), sql.Literal(PASSWORD)
                )
            )
        yield cluster, ca_file, other_file
    finally:
        cluster.destroy()


def _seed(cluster: ScratchCluster, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_HOST": "localhost",
        "DATABASE_PORT": str(cluster.port),
        "DATABASE_NAME": "postgres",
        "DATABASE_USER": USER,
        "DATABASE_PASSWORD": PASSWORD,
        **extra,
    }


def _tls_in_use(url: str) -> tuple[str, bool]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        user, ssl = conn.execute(
            "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    return user, ssl


def test_verify_full_with_the_root_certificate_connects_over_tls(
    tls: tuple[ScratchCluster, Path, Path],
) -> None:
    cluster, ca, _ = tls
    env = _seed(cluster, DATABASE_SSL="verify-full", DATABASE_SSL_ROOT_CERT=str(ca))
    url = external_database_url(env)
    assert url is not None
    assert _tls_in_use(url) == (USER, True)


def test_verify_full_refuses_a_server_signed_by_another_ca(
    tls: tuple[ScratchCluster, Path, Path],
) -> None:
    cluster, _, other = tls
    url = external_database_url(
        _seed(cluster, DATABASE_SSL="verify-full", DATABASE_SSL_ROOT_CERT=str(other))
    )
    assert url is not None
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        _tls_in_use(url)


def test_verify_full_refuses_a_host_name_the_certificate_does_not_name(
    tls: tuple[ScratchCluster, Path, Path],
) -> None:
    cluster, ca, _ = tls
    env = _seed(cluster, DATABASE_SSL="verify-full", DATABASE_SSL_ROOT_CERT=str(ca))
    env["DATABASE_HOST"] = "not-in-the-certificate.example"
    url = external_database_url(env)
    assert url is not None
    # the same server (hostaddr), reached under a name its certificate does not carry
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        _tls_in_use(url + "&hostaddr=127.0.0.1")


def test_database_url_with_a_percent_encoded_password_and_ssl_variables(
    tls: tuple[ScratchCluster, Path, Path],
) -> None:
    """DATABASE_URL with the password percent-encoded (as the README says); DATABASE_SSL
    and DATABASE_SSL_ROOT_CERT add sslmode and sslrootcert where the URL has none."""
    from urllib.parse import quote

    cluster, ca, _ = tls
    raw = f"postgresql://{USER}:{quote(PASSWORD, safe='')}@localhost:{cluster.port}/postgres"
    env = {"DATABASE_URL": raw, "DATABASE_SSL": "verify-full", "DATABASE_SSL_ROOT_CERT": str(ca)}
    url = external_database_url(env)
    assert url is not None and "sslmode=verify-full" in url
    assert _tls_in_use(url) == (USER, True)
    # a URL that says sslmode itself keeps it
    kept = external_database_url({**env, "DATABASE_URL": raw + "?sslmode=require"})
    assert kept is not None and "sslmode=require" in kept and "verify-full" not in kept


def test_a_wrong_password_is_refused(tls: tuple[ScratchCluster, Path, Path]) -> None:
    cluster, ca, _ = tls
    env = _seed(cluster, DATABASE_SSL="verify-full", DATABASE_SSL_ROOT_CERT=str(ca))
    env["DATABASE_PASSWORD"] = PASSWORD + "!"
    url = external_database_url(env)
    assert url is not None
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _tls_in_use(url)


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_verifying_without_a_root_certificate_is_a_clear_error(
    mode: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt
    with pytest.raises(ConfigError, match="DATABASE_SSL_ROOT_CERT"):
        external_database_url({"DATABASE_HOST": "h", "DATABASE_SSL": mode})
    with pytest.raises(ConfigError, match="no such file"):
        external_database_url(
            {"DATABASE_HOST": "h", "DATABASE_SSL": mode, "DATABASE_SSL_ROOT_CERT": "/nonexistent"}
        )


# --- .env and .env.local -----------------------------------------------------------------


def _db_url(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "xorj"), "db", "url"],
        cwd=cwd,
        env=cli_env({"XORJ_ENV_FILES": "1", **env}),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_env_files_are_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "DATABASE_URL=postgresql://from-env-file@h/a\nMIGRATION_DATABASE_URL=postgresql://o@h/a\n"
    )
    result = _db_url(tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postgresql://from-env-file@h/a"

    (tmp_path / ".env.local").write_text("DATABASE_URL=postgresql://from-env-local@h/a\n")
    assert _db_url(tmp_path, {}).stdout.strip() == "postgresql://from-env-local@h/a"

    env = {"DATABASE_URL": "postgresql://from-environment@h/a"}
    assert _db_url(tmp_path, env).stdout.strip() == "postgresql://from-environment@h/a"

    off = _db_url(tmp_path, {"XORJ_ENV_FILES": "0", **env})
    assert off.stdout.strip() == "postgresql://from-environment@h/a"
