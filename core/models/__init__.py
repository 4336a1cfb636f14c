"""All models, imported here so Alembic and the app see one complete metadata."""
from core.models.jobs import JOB_STATES, TERMINAL_STATES, Job
from core.models.people import ApiToken, Institution, User
from core.models.school import Enrollment, SchoolClass

__all__ = [
    "ApiToken",
    "Enrollment",
    "Institution",
    "JOB_STATES",
    "Job",
    "SchoolClass",
    "TERMINAL_STATES",
    "User",
]
