from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def nginx() -> str:
    """Debian's nginx, which .ci/run installs; only a machine without it may skip these tests."""
    path = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if path is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run does) so `nginx -t` cannot run")
    return path
