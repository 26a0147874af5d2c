"""Shared fixtures: fake AWS settings for the whole run, a moto S3 server on 127.0.0.1, and
a throwaway PostgreSQL server on 127.0.0.1 for the store's tests.

No test may reach real AWS: every AWS setting boto3 would read is replaced, for the
whole session, by fake credentials, a fixed region, and config files that do not
exist (so no profile, SSO session or credential process of the developer's is used),
and the instance metadata service is switched off.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# Settings that could point boto3 at a real account or a real endpoint.
UNSET_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def _fake_aws_env(mp: pytest.MonkeyPatch, home: Path) -> None:
    for name, value in FAKE_AWS_ENV.items():
        mp.setenv(name, value)
    for name in UNSET_AWS_ENV:
        mp.delenv(name, raising=False)
    mp.setenv("AWS_CONFIG_FILE", str(home / "config"))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))


@pytest.fixture(scope="session", autouse=True)
def _fake_aws_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fake AWS credentials and region for every test in the session."""
    home = tmp_path_factory.mktemp("aws-home")  # stays empty: no config, no credentials
    with pytest.MonkeyPatch.context() as mp:
        _fake_aws_env(mp, home)
        yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (a free port); yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        # stop() shuts the server down but leaves its socket open (moto 5.x).
        wsgi_server = getattr(server, "_server", None)
        if wsgi_server is not None:
            wsgi_server.server_close()


def reset_moto(endpoint_url: str) -> None:
    """Forget every bucket and object the server holds."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def s3_client(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[S3Client]:
    """A boto3 S3 client on the moto server, which starts each test empty."""
    _fake_aws_env(monkeypatch, tmp_path / "no-aws-config")
    assert "AWS_PROFILE" not in os.environ
    reset_moto(moto_server)
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    try:
        yield client
    finally:
        client.close()


# --- PostgreSQL -------------------------------------------------------------------------
#
# ``TRAILGUARD_TEST_PG_URL`` (a SQLAlchemy URL of a server whose user may CREATE DATABASE)
# is used as it is; otherwise a cluster is made with initdb in a temporary folder and
# started with pg_ctl, listening on 127.0.0.1 only (and a Unix socket inside that folder),
# and stopped at the end of the session.  Without either, the tests that need it are
# skipped, unless TRAILGUARD_REQUIRE_POSTGRES=1 (CI), when they fail.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only: a store test about SQLite itself (WAL, the file), not run on PostgreSQL",
    )


PG_URL_ENV = "TRAILGUARD_TEST_PG_URL"
PG_REQUIRE_ENV = "TRAILGUARD_REQUIRE_POSTGRES"
PG_USER = "trailguard"
# read once, now: tests may clear TRAILGUARD_* variables before the server is first needed
PG_GIVEN_URL = os.environ.get(PG_URL_ENV) or None
PG_REQUIRED = os.environ.get(PG_REQUIRE_ENV) == "1"


def _pg_unavailable(reason: str) -> None:
    if PG_REQUIRED:
        pytest.fail(f"PostgreSQL is required ({PG_REQUIRE_ENV}=1) but {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL server: {reason} (set {PG_URL_ENV}, or install PostgreSQL)")


def _pg_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else the newest Debian-style install."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).resolve().parent == Path(pg_ctl).resolve().parent:
        return Path(initdb).resolve().parent
    found = [
        Path(d)
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if (Path(d) / "initdb").is_file() and (Path(d) / "pg_ctl").is_file()
    ]
    found.sort(key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: the account to run it as, when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _pg_run(args: list[str], user: pwd.struct_passwd | None) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, object] = {}
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return subprocess.run(
        args,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "LC_ALL": "C", "HOME": tempfile.gettempdir()},
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server; yields a SQLAlchemy URL (psycopg driver) of its admin database."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _pg_unavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    if PG_GIVEN_URL:
        yield PG_GIVEN_URL
        return
    bindir = _pg_bindir()
    if bindir is None:
        _pg_unavailable("initdb/pg_ctl are neither on PATH nor under /usr/lib/postgresql/*/bin")
        return
    if os.geteuid() == 0 and _unprivileged_user() is None:
        _pg_unavailable("running as root and no unprivileged account (postgres, nobody) exists")
    user = _unprivileged_user()
    # not under pytest's base temp: that is private to the user running the tests
    base = Path(tempfile.mkdtemp(prefix="trailguard-pg-"))
    data, log = base / "data", base / "server.log"
    try:
        if user is not None:
            os.chown(base, user.pw_uid, user.pw_gid)
        initdb = [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER]
        initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
        # a natural-language collation, as most servers have, so that the tests catch code
        # that relies on byte order; PostgreSQL < 15 or a build without ICU: plain C
        init = _pg_run([*initdb, "--locale-provider=icu", "--icu-locale=en-US"], user)
        if init.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            init = _pg_run(initdb, user)
        if init.returncode != 0:
            pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}", pytrace=False)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# trailguard tests: loopback only, a socket in our own folder, no durability\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{base}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 50\n"
            )
        for attempt in itertools.count():
            port = _free_port()
            pg_ctl = [str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data)]
            start = _pg_run([*pg_ctl, "-l", str(log), "-o", f"-p {port}"], user)
            if start.returncode == 0:
                break
            if attempt >= 2:  # the port may have been taken meanwhile: try another, twice
                text = log.read_text(errors="replace") if log.exists() else ""
                pytest.fail(f"pg_ctl start failed:\n{start.stderr}\n{text}", pytrace=False)
        try:
            yield f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/postgres"
        finally:
            _pg_run([str(bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(data)], user)
    finally:
        shutil.rmtree(base, ignore_errors=True)


_pg_databases = itertools.count()


@pytest.fixture
def pg_new_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes new, empty databases on the test server (each call one); dropped after the test.

    Yields a function that returns the new database's SQLAlchemy URL.
    """
    import sqlalchemy as sa

    admin_url = sa.make_url(postgres_server)
    if admin_url.drivername == "postgresql":
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    made: list[str] = []

    def new() -> str:
        name = f"trailguard_test_{os.getpid()}_{next(_pg_databases)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return admin_url.set(database=name).render_as_string(hide_password=False)

    try:
        yield new
        with admin.connect() as conn:
            for name in made:
                # WITH (FORCE): a store a test forgot to close must not break the next test
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture
def pg_url(pg_new_database: Callable[[], str]) -> str:
    """A new, empty database on the test server for this test: its SQLAlchemy URL."""
    return pg_new_database()
