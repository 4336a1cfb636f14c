"""gunicorn.conf.py per tier, loaded into gunicorn's own Config, which validates every setting
(types, hook signatures) the way `gunicorn --config` does."""
from __future__ import annotations

import pytest
from gunicorn.config import Config

from infra.ebconfig import load_sqsd_settings
from tests.deploy.files import ROOT, gunicorn_settings


def gunicorn_config(tier: str) -> Config:
    config = Config()
    for name, value in gunicorn_settings(tier).items():
        if name in config.settings:
            config.set(name, value)  # raises on a wrong type or a hook with the wrong arguments
    return config


@pytest.mark.parametrize("tier", ["web", "worker"])
def test_gunicorn_accepts_the_config_and_listens_where_the_platform_nginx_proxies(tier):
    config = gunicorn_config(tier)
    assert config.address == [("127.0.0.1", 8000)]
    assert config.preload_app is False, "the app, its pools and clients must be built after the fork"
    for hook in ("post_worker_init", "worker_exit", "worker_abort"):
        assert config.settings[hook].value.__module__ != "gunicorn.config", f"{hook} is not ours"


def test_a_worker_freezes_what_it_loaded_so_a_full_collection_skips_it():
    import gc

    hooks = gunicorn_settings("web")
    before = gc.get_freeze_count()
    try:
        hooks["freeze_startup_objects"]()
        assert gc.get_freeze_count() > before
        started = len(gc.get_objects(generation=2))
        assert started < gc.get_freeze_count(), "the oldest generation holds only what came after the freeze"
    finally:
        gc.unfreeze()


def test_the_worker_tier_runs_one_job_per_process_and_as_many_as_sqsd_sends():
    config = gunicorn_config("worker")
    assert (config.worker_class_str, config.threads) == ("sync", 1)
    assert config.workers == load_sqsd_settings(ROOT).http_connections


def test_the_web_tier_uses_threads():
    config = gunicorn_config("web")
    assert config.worker_class_str == "gthread" and config.threads > 1


def test_gunicorn_lines_are_json_with_the_role(capsys):
    import copy
    import json
    import logging
    import logging.config

    config = copy.deepcopy(gunicorn_settings("worker")["logconfig_dict"])
    assert config["loggers"]["gunicorn.error"]["handlers"] == config["loggers"]["gunicorn.access"]["handlers"] == ["json"]
    # Applied to a logger of this test's own, so the root logger and gunicorn's stay untouched.
    config["loggers"] = {"tests.gunicorn.error": config["loggers"]["gunicorn.error"]}
    del config["root"]
    logging.config.dictConfig(config)
    logging.getLogger("tests.gunicorn.error").critical("WORKER TIMEOUT (pid:%s)", 7)
    line = json.loads(capsys.readouterr().out)
    assert (line["level"], line["message"], line["role"]) == ("CRITICAL", "WORKER TIMEOUT (pid:7)", "worker")
    assert "timestamp" in line
