"""What every step and compensation of the seed workflow shares: the step's session, parameters
and plan, progress points, bulk inserts in chunks, lookups by institution, and the check that a
step's rows are either all there or none."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.auth import hash_password
from core.models import SchoolClass, User, Workflow
from core.seeding import PASSWORDS, WORKFLOW, SeedParamsError, SeedPlan, seed_params
from worker.context import JobContext
from worker.errors import PermanentJobError

CHUNK = 5_000  # rows per INSERT statement batch, with a progress point between batches
PEOPLE_ROLES = ("teacher", "student")


class Step:
    """The session, the plan, and progress points of one step. (On SQLite, JobContext skips
    the progress points that come after the step's first write; see JobContext.progress.)"""

    def __init__(self, ctx: JobContext, workflow: Workflow):
        self.ctx, self.workflow, self.session = ctx, workflow, ctx.session
        # The initial password's hash rides along in the params but is not a seed parameter;
        # kept apart here so no step can hash from the filtered params and miss it.
        self.initial_password_hash: str | None = workflow.params.get("password_hash")
        try:
            self.params = seed_params({k: v for k, v in workflow.params.items() if k != "password_hash"})
        except SeedParamsError as exc:
            raise PermanentJobError(f"invalid seed parameters: {exc}") from exc
        self.plan = SeedPlan(self.params)

    @property
    def institution_id(self) -> int:
        found = (self.workflow.context or {}).get("institution", {}).get("institution_id")
        if found is None:
            raise PermanentJobError("the workflow context has no institution id (step 'institution' did not finish)")
        return found

    def progress(self, percent: int) -> None:
        self.ctx.progress(percent)

    def password_hash(self, role: str) -> str:
        """An institution started through the API brings its own initial password, hashed by the
        web tier (only the hash is stored); only the local demo uses the documented demo passwords."""
        return self.initial_password_hash or hash_password(PASSWORDS[role])

    def insert(self, model: type, rows: list[dict[str, Any]], start: int, end: int, what: str) -> None:
        for first in range(0, len(rows), CHUNK):
            try:
                self.session.execute(sa.insert(model), rows[first : first + CHUNK])
            except IntegrityError as exc:
                raise PermanentJobError(f"could not add the {what}: {exc.orig}") from exc
            self.progress(start + (end - start) * min(len(rows), first + CHUNK) // len(rows))

    def count(self, statement: sa.Select) -> int:
        return self.session.scalar(sa.select(sa.func.count()).select_from(statement.subquery())) or 0

    def class_rows_done(self, model: Any, expected: int, what: str) -> bool:
        """Whether a previous run wrote all `expected` rows of `model` (a table of per-class rows:
        lessons, activities) for this institution; see already_done."""
        return already_done(self.count(sa.select(model.id).where(model.class_id.in_(self.classes()))), expected, what)

    def ids_by_class_and(self, model: Any, column: Any) -> dict[tuple[int, Any], int]:
        """{(class id, value of `column`): row id} of this institution's per-class rows of `model`."""
        rows = self.session.execute(sa.select(model.id, model.class_id, column).where(model.class_id.in_(self.classes())))
        return {(class_id, value): row_id for row_id, class_id, value in rows}

    def delete_class_rows(self, model: Any, child: Any, child_key: Any) -> tuple[int, int]:
        """Delete this institution's per-class rows of `model` and, first, their `child` rows."""
        ids = sa.select(model.id).where(model.class_id.in_(self.classes()))
        children = deleted(self.session, sa.delete(child).where(child_key.in_(ids)))
        return children, deleted(self.session, sa.delete(model).where(model.class_id.in_(self.classes())))

    def classes(self) -> sa.Select:
        return sa.select(SchoolClass.id).where(SchoolClass.institution_id == self.institution_id)

    def ids_by(self, column: Any, key: Any, *where: Any) -> dict[Any, int]:
        return dict(self.session.execute(sa.select(key, column).where(*where)).all())

    def students_by_email(self) -> dict[str, int]:
        return self.ids_by(User.id, User.email, User.institution_id == self.institution_id, User.role == "student")

    def classes_by_code(self) -> dict[str, int]:
        return self.ids_by(SchoolClass.id, SchoolClass.code, SchoolClass.institution_id == self.institution_id)


def already_done(found: int, expected: int, what: str) -> bool:
    """True if a previous run wrote all of it; False if none; a permanent error otherwise."""
    if found == 0:
        return False
    if found == expected:
        return True
    raise PermanentJobError(
        f"found {found} {what} of this institution where none or {expected} were expected; an operator must look"
    )


def marker_key(slug: str) -> str:
    return f"{WORKFLOW}:{slug}"


def deleted(session: Any, statement: Any) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
