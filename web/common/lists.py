"""The lists that page by position (web.common.pagination.Keyset): their order, exactly as the
statements in web.common.access sort them (a test compares the two), for the API and the pages
alike. Each is read through an index in that order (core/models: ix_jobs_owner_listed,
ix_jobs_owner_state_listed, ix_notifications_user_created, ix_notifications_user_unread)."""
from __future__ import annotations

from core.models import Job, Notification
from web.common.pagination import Keyset

#: access.own_jobs: newest first, ties by id.
OWN_JOBS = Keyset(((Job.created_at, True), (Job.id, False)))
#: access.own_notifications: newest first, ties by id, newest first too.
OWN_NOTIFICATIONS = Keyset(((Notification.created_at, True), (Notification.id, True)))
