from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_unless_ci(reason: str) -> None:
    """Skip on a developer machine that lacks something; fail in CI (CI=true), where .ci/run
    installs everything, so a missing tool can never pass for green."""
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def nginx() -> str:
    """Debian's nginx, which .ci/run installs; only a machine without it may skip these tests."""
    path = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if path is None:
        skip_unless_ci("nginx is not installed (apt-get install nginx; .ci/run does) so `nginx -t` cannot run")
    return path
