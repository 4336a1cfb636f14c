from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow
from core.models.people import Institution, User


class SchoolClass(Base):
    """A class (group of students taught by one teacher). `class` is reserved in Python."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    institution: Mapped[Institution] = relationship()
    teacher: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("institution_id", "code", name="uq_classes_institution_code"),)


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (sa.UniqueConstraint("class_id", "student_id", name="uq_enrollments_class_student"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("classes.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    student: Mapped[User] = relationship()


class Lesson(Base):
    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    held_on: Mapped[date] = mapped_column(sa.Date)
    topic: Mapped[str] = mapped_column(sa.String(200))


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = (sa.UniqueConstraint("lesson_id", "student_id", name="uq_attendance_lesson_student"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(sa.ForeignKey("lessons.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    present: Mapped[bool] = mapped_column(default=True)


#: An activity's status: waiting for its publish_at, out to the class, or taken back.
ACTIVITY_STATUSES = ("scheduled", "published", "unpublished")
SCHEDULED = "status = 'scheduled'"
DUE_PUBLISHED = "status = 'published' AND due_at IS NOT NULL"


class Activity(Base):
    """An assignment a teacher publishes to a class, now or at `publish_at`."""

    __tablename__ = "activities"
    __table_args__ = (
        # What the publishing task finds due, and what the reminders task finds due soon.
        sa.Index("ix_activities_scheduled", "publish_at", sqlite_where=sa.text(SCHEDULED),
                 postgresql_where=sa.text(SCHEDULED)),
        sa.Index("ix_activities_due", "due_at", sqlite_where=sa.text(DUE_PUBLISHED),
                 postgresql_where=sa.text(DUE_PUBLISHED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # ACTIVITY_STATUSES (checked by the application: SQLite adds a CHECK only by copying the table).
    status: Mapped[str] = mapped_column(sa.String(16), default="published", server_default="published")
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    allow_late: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unpublished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    school_class: Mapped[SchoolClass] = relationship()


class Grade(Base):
    __tablename__ = "grades"
    __table_args__ = (sa.UniqueConstraint("activity_id", "student_id", name="uq_grades_activity_student"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activities.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(sa.Numeric(5, 2, asdecimal=False))
    feedback: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The teacher's id; no foreign key (SQLite could only add one by copying the table), so a
    # grade outlives its grader's account.
    graded_by: Mapped[int | None]


FILE_STATES = ("pending", "verified", "rejected")


class Submission(Base):
    """A student's work for an activity: one per student and activity, resubmitted in place."""

    __tablename__ = "submissions"
    __table_args__ = (sa.UniqueConstraint("activity_id", "student_id", name="uq_submissions_activity_student"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(sa.ForeignKey("activities.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(sa.Text, default="")
    late: Mapped[bool] = mapped_column(default=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubmissionFile(Base):
    """A file uploaded to S3 for a submission, and what the check of it found."""

    __tablename__ = "submission_files"
    __table_args__ = (sa.CheckConstraint(sa.column("state").in_(FILE_STATES), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(sa.String(500), unique=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    checksum: Mapped[str | None] = mapped_column(sa.String(100))
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
