"""Who may use the operations console, and which jobs each of them sees.

Operators (platform staff, no institution) see every job and may run bulk and destructive
actions. Institution admins see the jobs of their own institution's users only, and may act on
one job at a time; a job of another institution, or one with no owner (periodic work), is not
theirs: a 404, as everywhere else in the API, so its existence is not revealed."""
from __future__ import annotations

import sqlalchemy as sa

from core.models import Job, User
from web.common.refusal import Refusal

CONSOLE_ROLES = ("operator", "admin")


def is_operator(user: User) -> bool:
    return user.role == "operator"


def console_user(user: User) -> User:
    """The caller, who must be an operator or an institution admin; 403 otherwise."""
    if user.role not in CONSOLE_ROLES:
        raise Refusal(403, "the operations console is for operators and institution admins")
    return user


def operator_only(user: User, to_do: str) -> User:
    """The caller, who must be an operator to `to_do` (bulk and destructive actions); 403 otherwise."""
    if not is_operator(user):
        raise Refusal(403, f"only operators (platform staff) can {to_do}")
    return user


def owners_in_scope(user: User) -> sa.Select | None:
    """The users whose jobs `user` may see: None for an operator (everyone's), else a subquery
    of the ids of their institution's users."""
    if is_operator(user):
        return None
    return sa.select(User.id).where(User.institution_id == user.institution_id)


def jobs_in_scope(user: User) -> sa.ColumnElement[bool]:
    """A condition on Job for the jobs `user` may see in the console."""
    owners = owners_in_scope(user)
    return sa.true() if owners is None else Job.owner_id.in_(owners.scalar_subquery())
