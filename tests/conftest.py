"""Shared fixtures: fake AWS settings for the whole run, and a moto S3 server on 127.0.0.1.

No test may reach real AWS: every AWS setting boto3 would read is replaced, for the
whole session, by fake credentials, a fixed region, and config files that do not
exist (so no profile, SSO session or credential process of the developer's is used),
and the instance metadata service is switched off.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
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
