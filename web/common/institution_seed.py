"""Starting an institution's seed: validating the request, then core.seeding.start_seed. Shared
by the admin API (POST /api/admin/seeds) and the admin page (POST /admin/seeds): one set of
rules, so the form and the API cannot drift apart."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.auth import hash_password
from core.models import Institution, User, Workflow
from core.seeding import SeedParamsError, open_seed_workflows, seed_params, start_seed
from web.common.submit import QuotaExceeded, check_quota

MIN_PASSWORD = 10


class SeedRequestError(Exception):
    """Why a seed was not started: the HTTP status, the message and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None, retry_after: int | None = None,
                 limit: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.limit = limit


def start_institution_seed(db: Session, user: User, raw: dict[str, Any], password: Any,
                           max_in_flight: int) -> Workflow:
    """Validate and start the seed workflow (the caller commits and sends: outbox.commit_and_send).
    Raises SeedRequestError: 400 bad field, 409 slug taken or being seeded, 429 over quota."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        # The seeded accounts need a password nobody else knows; only its hash is kept.
        raise SeedRequestError(400, f"initial_password is required, at least {MIN_PASSWORD} characters",
                               field="initial_password")
    try:
        params = seed_params(raw)
    except SeedParamsError as exc:
        raise SeedRequestError(400, str(exc), field=exc.field) from exc

    taken = db.query(Institution.id).filter(Institution.slug == params["slug"]).first()
    if taken is not None or open_seed_workflows(db, params["slug"]):
        raise SeedRequestError(409, f"an institution with the slug {params['slug']!r} exists or is being seeded",
                               field="slug")
    try:
        check_quota(db, user.id, max_in_flight)
    except QuotaExceeded as exc:
        raise SeedRequestError(429, str(exc), retry_after=exc.retry_after, limit=exc.limit) from exc
    return start_seed(db, {**params, "password_hash": hash_password(password)}, owner_id=user.id)


def institution_workflows(user: User) -> sa.Select:
    """Workflows owned by users of the admin's institution, newest first (for pagination)."""
    owners = sa.select(User.id).where(User.institution_id == user.institution_id)
    return (sa.select(Workflow).where(Workflow.owner_id.in_(owners))
            .order_by(Workflow.created_at.desc(), Workflow.id.desc()))

