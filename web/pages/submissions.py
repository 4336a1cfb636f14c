"""Pages: submissions (issue 13)."""
from __future__ import annotations

from web.pages.blueprint import bp  # noqa: F401
