"""All models, imported here so Alembic and the app see one complete metadata."""
from core.models.jobs import JOB_STATES, TERMINAL_STATES, Job
from core.models.notifications import Notification, NotificationPreference
from core.models.ops import AuditEntry, JobAttempt, JobCount, JobMinute, JobTypePause, PeriodicRun, QueueSample
from core.models.orchestration import Batch, Effect, TaskLease, Workflow
from core.models.people import ApiToken, Institution, Invitation, LoginThrottle, User
from core.models.school import Activity, Attendance, Enrollment, Grade, Lesson, SchoolClass, Submission, SubmissionFile

__all__ = [
    "JOB_STATES",
    "TERMINAL_STATES",
    "Activity",
    "ApiToken",
    "Attendance",
    "AuditEntry",
    "Batch",
    "Effect",
    "Enrollment",
    "Grade",
    "Institution",
    "Invitation",
    "Job",
    "JobAttempt",
    "JobCount",
    "JobMinute",
    "JobTypePause",
    "Lesson",
    "LoginThrottle",
    "Notification",
    "NotificationPreference",
    "PeriodicRun",
    "QueueSample",
    "SchoolClass",
    "Submission",
    "SubmissionFile",
    "TaskLease",
    "User",
    "Workflow",
]
