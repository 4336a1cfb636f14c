"""The `seed_institution` workflow: an institution with demo data, one atomic step at a time.

Steps (declared in core.jobs.workflows.SEED_INSTITUTION, implemented in steps.py), each one
transaction committed by the runner together with the step's outcome and the job of the next step:

  institution   the institution, its admin, and a marker (an `effects` row) naming this workflow
  people        teachers and students (one password hash per role, not per user)
  classes       a core class and an elective per section of students
  enrollments   students into classes
  lessons       lessons of every class, attendance of every enrolled student
  grades        published activities of every class, a grade for every enrolled student

Everything is derived from the workflow's params (core.seeding.SeedPlan) and from rows found by
institution id, so the workflow context holds only the institution id and counts.

Idempotency: a step's writes commit only with its outcome, so a retried or redelivered step
starts from the state before it. Each step still checks for its rows first: none found, it
writes them; all found, it reports them without writing again; some other number, it stops
with a permanent error for an operator. The institution step refuses a slug that another
workflow (or anyone else) already holds, and an email domain already in use.

Every step has a compensation (compensations.py) that deletes exactly what the step created.
What steps and compensations share (the plan, chunked inserts, lookups) is in _step.py. The
modules register their functions with worker/workflows/registry.py when imported; importing
this package alone registers nothing (worker/workflows/__init__.py `load()` imports them).
"""
