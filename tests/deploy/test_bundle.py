"""`make bundle`: the zip `eb deploy` would upload holds exactly the deployable files, and runs."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import bundle
from tests.deploy.files import ROOT

# What the instances need at the top of the bundle: the platform reads Procfile, requirements.txt,
# cron.yaml, .ebextensions/ and .platform/ there; the rest is the app and its migrations.
DEPLOYED = {"Procfile", "requirements.txt", "cron.yaml", "gunicorn.conf.py", "wsgi.py", "alembic.ini",
            ".ebextensions", ".platform", "core", "web", "worker", "migrations"}
PACKAGES = ("core", "web", "worker", "migrations", ".ebextensions", ".platform")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("bundle") / "aula.zip"
    assert bundle.main([str(output)]) == 0
    return output


def test_make_bundle_runs_this_builder():
    dry_run = subprocess.run(["make", "-n", "bundle", "STAMP=Makefile"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30)
    assert dry_run.returncode == 0, dry_run.stderr
    assert "-m infra.bundle dist/aula.zip" in dry_run.stdout


def test_the_bundle_holds_the_deployable_files_and_nothing_else(built: Path):
    names = zipfile.ZipFile(built).namelist()
    assert {name.split("/")[0] for name in names} == DEPLOYED
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".sqlite3", ".log", "~"))]
    expected = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert expected <= set(names), f"left out: {sorted(expected - set(names))}"
    assert built.stat().st_size < 1024 * 1024, "the bundle should be small; something large slipped in"


def test_the_unpacked_bundle_imports_both_apps_and_migrates_on_its_own(built: Path, tmp_path: Path):
    unpacked = tmp_path / "app"
    zipfile.ZipFile(built).extractall(unpacked)
    script = (
        "import core, wsgi, web, worker; from core.__main__ import migrate; "
        f"migrate('sqlite:///{tmp_path / 'fresh.sqlite3'}'); print(core.__file__)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    result = subprocess.run([sys.executable, "-c", script], cwd=unpacked, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(unpacked)), "imported the checkout instead of the bundle"


def test_the_builder_follows_the_eb_cli_rules(tmp_path: Path):
    project = tmp_path / "project"
    for name in ("Procfile", "app.py", "app.py~", "notes.txt", "tests/test_app.py", ".elasticbeanstalk/config.yml",
                 "keep/inner.txt", "data/big.bin"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    hook = project / ".platform/hooks/prebuild/01-check.sh"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\n")
    hook.chmod(0o755)
    (project / ".ebignore").write_text("tests/\n*.txt\n!keep/inner.txt\ndata/\n")
    output = tmp_path / "out.zip"
    files = bundle.build(output, root=project)
    # .ebignore itself, .elasticbeanstalk/ and editor backups never go in; a negated rule is honoured.
    assert sorted(files) == [".platform/hooks/prebuild/01-check.sh", "Procfile", "app.py", "keep/inner.txt"]
    mode = zipfile.ZipFile(output).getinfo(".platform/hooks/prebuild/01-check.sh").external_attr >> 16
    assert mode & stat.S_IXUSR, "platform hooks must stay executable"


def test_the_builder_refuses_to_guess_without_an_ebignore(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=".ebignore"):
        bundle.bundle_files(tmp_path)
