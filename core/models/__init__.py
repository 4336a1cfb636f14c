"""All models, imported here so Alembic and the app see one complete metadata."""
from core.models.jobs import JOB_STATES, TERMINAL_STATES, Job
from core.models.notifications import Notification
from core.models.orchestration import Batch, Effect, TaskLease, Workflow
from core.models.people import ApiToken, Institution, LoginThrottle, User
from core.models.school import Activity, Attendance, Enrollment, Grade, Lesson, SchoolClass

__all__ = [
    "Activity",
    "ApiToken",
    "Attendance",
    "Batch",
    "Effect",
    "Grade",
    "Lesson",
    "LoginThrottle",
    "Notification",
    "TaskLease",
    "Workflow",
    "Enrollment",
    "Institution",
    "JOB_STATES",
    "Job",
    "SchoolClass",
    "TERMINAL_STATES",
    "User",
]
