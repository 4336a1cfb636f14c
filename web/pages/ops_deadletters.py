"""Operations console pages: deadletters (issue 11)."""
from __future__ import annotations

from web.pages.blueprint import bp  # noqa: F401
