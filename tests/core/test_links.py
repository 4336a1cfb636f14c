"""core.links.absolute: a path under the configured base URL, never another site."""
from __future__ import annotations

import pytest

from core.links import absolute
from core.settings import Settings
from tests.core.test_settings import VALID


def test_a_path_under_the_base_url():
    assert absolute("https://aula.example.edu/", "/activities/12?x=1") == "https://aula.example.edu/activities/12?x=1"


@pytest.mark.parametrize("path", ["activities/12", "//evil.example/x", "https://evil.example/", "javascript:alert(1)"])
def test_anything_but_a_path_is_refused(path):
    with pytest.raises(ValueError):
        absolute("https://aula.example.edu", path)


def test_the_base_url_setting_defaults_to_the_local_web_tier_and_must_be_http():
    env = dict(VALID)
    assert Settings.from_env(env).public_base_url == "http://127.0.0.1:8000"
    assert Settings.from_env({**env, "PUBLIC_BASE_URL": "https://aula.example.edu/"}).public_base_url \
        == "https://aula.example.edu"
    with pytest.raises(Exception, match="PUBLIC_BASE_URL"):
        Settings.from_env({**env, "PUBLIC_BASE_URL": "aula.example.edu"})
