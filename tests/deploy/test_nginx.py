"""`.platform/nginx` checked by nginx itself, inside a copy of the platform's configuration."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.deploy.files import ROOT, nginx_server_context
from tests.deploy.platform_nginx import build

PLATFORM_NGINX = ROOT / ".platform/nginx"


def nginx_test(nginx: str, conf: Path, dump: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([nginx, "-T" if dump else "-t", "-p", f"{conf.parent}/", "-c", str(conf)],
                          capture_output=True, text=True, check=False, timeout=30)


def test_our_files_pass_nginx_t_where_the_platform_includes_them(nginx, tmp_path):
    result = nginx_test(nginx, build(tmp_path / "nginx", PLATFORM_NGINX))
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_files_are_really_in_the_configuration_nginx_reads(nginx, tmp_path):
    dump = nginx_test(nginx, build(tmp_path / "nginx", PLATFORM_NGINX), dump=True)
    assert dump.returncode == 0, dump.stderr
    assert "location ^~ /sqsd/" in dump.stdout and "proxy_read_timeout 630s;" in dump.stdout


def test_the_same_server_file_would_break_nginx_in_the_http_context(nginx, tmp_path):
    # Proof that the check depends on where a file goes: `location` is only valid inside `server`.
    misplaced = tmp_path / "misplaced"
    shutil.copytree(PLATFORM_NGINX, misplaced)
    for conf in (misplaced / "conf.d/elasticbeanstalk").glob("*.conf"):
        conf.rename(misplaced / "conf.d" / conf.name)
    result = nginx_test(nginx, build(tmp_path / "nginx", misplaced))
    assert result.returncode != 0 and '"location" directive is not allowed here' in result.stderr


def test_nothing_repeats_what_the_platform_already_sets_in_the_server(nginx, tmp_path):
    # A second keepalive_timeout (or any other directive the platform's server block sets) is a
    # "duplicate" error that would fail every deployment; nginx -t above would catch it. This
    # keeps the reason visible: the server file may only add what the platform leaves unset.
    platform_server = {"listen", "access_log", "client_header_timeout", "client_body_timeout", "keepalive_timeout",
                       "gzip", "gzip_comp_level", "gzip_types"}
    assert not platform_server & {name for name, _ in nginx_server_context().directives}


def test_only_nginx_files_are_under_platform_nginx():
    files = [p.relative_to(PLATFORM_NGINX).as_posix() for p in PLATFORM_NGINX.rglob("*") if p.is_file()]
    assert files and all(f.endswith(".conf") for f in files), files
    for path in PLATFORM_NGINX.rglob("*.conf"):
        path.read_text(encoding="utf-8")  # the platform requires UTF-8
