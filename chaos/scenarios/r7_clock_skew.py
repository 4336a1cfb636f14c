"""R7: two worker instances whose clocks disagree, one 5 s ahead and one 5 s behind.

On Elastic Beanstalk each worker instance runs its own sqsd and gunicorn, both on the
instance's clock, all polling one queue; clocks drift apart between instances. So the run's
single worker tier becomes two, each a gunicorn (2 sync workers) with its own sqsd (2
connections) polling the same queue, every process of a tier under libfaketime (LD_PRELOAD,
FAKETIME=+5s or -5s; Debian's `faketime` package). One sqsd is the cron leader, the one ahead,
as one instance is on EB. The web tier and the database keep the true clock.

What depends on which clock: every time the app writes or compares (a claim's lease and due
time, a retry's next_attempt_at and its message's DelaySeconds, published_at, reclaim-stalled's
"lease expired", unpublish_lost's "due a minute ago", task leases, publish_at) is the app's
clock of the process doing it (core.db.utcnow); the database's clock is used only by the
attempt history's triggers. So a job created by the web tier, claimed on one clock and retried
on the other crosses all of them. Retries come from a real transient fault: both tiers write
reports to a bucket that does not exist yet (NoSuchBucket is retried with backoff,
worker/errors.py), created a few seconds into the load.

Invariants: no accepted job lost, none run twice (no attempt ended by a lost lease, every
effect once: emails at SES, one file per report), no retry dropped (every job that was retried
finished, with no attempt unaccounted for)."""
from __future__ import annotations

import email.utils
import glob
import time
import uuid
from datetime import timedelta

import boto3
import requests
import sqlalchemy as sa

from chaos import count
from chaos.load import Load
from chaos.result import Result
from chaos.scenarios.common import Form, count_load, mixed_calls, now, teacher_classes
from chaos.stack import ChaosStack

SKEW_S = 5
TIERS = {"ahead": f"+{SKEW_S}s", "behind": f"-{SKEW_S}s"}
LIBFAKETIME = "/usr/lib/*/faketime/libfaketime.so.1"


def libfaketime() -> str | None:
    found = sorted(glob.glob(LIBFAKETIME))
    return found[0] if found else None


def _clock_offset(url: str) -> float:
    """How far a tier's clock is from ours, by the Date header gunicorn writes (1 s resolution)."""
    before = time.time()
    response = requests.get(url + "/healthz", timeout=10)
    after = time.time()
    told = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
    return told - (before + after) / 2


def _start_tiers(stack: ChaosStack, lib: str, bucket: str) -> None:
    for tier, faketime in TIERS.items():
        clock = {"LD_PRELOAD": lib, "FAKETIME": faketime}
        stack.start_worker(f"worker-{tier}", GUNICORN_WORKERS="2", S3_BUCKET=bucket, **clock)
        stack.start_sqsd(f"sqsd-{tier}", worker=f"worker-{tier}", SQSD_HTTP_CONNECTIONS="2",
                         SQSD_CRON="1" if tier == "ahead" else "0", **clock)


def _attempts(stack: ChaosStack, since) -> list[sa.Row]:
    with stack.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT a.job_id, a.attempt, a.outcome, a.worker, j.state, j.attempts AS job_attempts FROM job_attempts a "
            "JOIN jobs j ON j.id = a.job_id WHERE j.created_at >= :s ORDER BY a.job_id, a.attempt"), {"s": since}).all()


def _check_attempts(stack: ChaosStack, result: Result, since, tiers: dict[str, set[str]]) -> None:
    rows = _attempts(stack, since)
    by_job: dict[str, list[sa.Row]] = {}
    for row in rows:
        by_job.setdefault(str(row.job_id), []).append(row)
    lost_leases = [r for r in rows if r.outcome == "lease_expired"]
    retried = {job: runs for job, runs in by_job.items() if any(r.outcome == "retrying" for r in runs)}
    dropped = [job for job, runs in retried.items() if runs[-1].state != "succeeded"]
    # Every attempt but the last ended in a retry we scheduled: none was a second run of the same attempt.
    unexplained = [job for job, runs in by_job.items()
                   if len(runs) != runs[-1].job_attempts or any(r.outcome != "retrying" for r in runs[:-1])]
    per_tier = {tier: sum(1 for r in rows if r.worker in claimers) for tier, claimers in tiers.items()}
    crossed = sum(1 for runs in retried.values() if len({_tier_of(r.worker, tiers) for r in runs}) > 1)
    retries = sum(1 for r in rows if r.outcome == "retrying")
    result.notes.append(f"attempts {len(rows)} ({per_tier}); {retries} retries of {len(retried)} jobs, {crossed} of "
                        f"them on both clocks; attempts ended by a lost lease {len(lost_leases)}; retries dropped "
                        f"{len(dropped)}; unexplained attempts {len(unexplained)}")
    result.duplicated += len(lost_leases) + len(unexplained)
    result.lost += len(dropped)
    result.check(not lost_leases, f"{len(lost_leases)} attempts ended by a lost lease (a job run twice)")
    result.check(not unexplained, f"{len(unexplained)} jobs with an attempt no retry explains, e.g. {unexplained[:2]}")
    result.check(not dropped, f"{len(dropped)} retried jobs did not succeed, e.g. {dropped[:2]}")
    result.check(bool(retried), "no job was retried: the transient fault was not injected")
    result.check(all(per_tier.values()), f"a tier ran nothing: {per_tier}")


def _tier_of(worker: str | None, tiers: dict[str, set[str]]) -> str:
    return next((tier for tier, claimers in tiers.items() if worker in claimers), "?")


def r7_clock_skew(stack: ChaosStack, form: Form) -> Result:
    """Two worker instances, one 5 s ahead and one 5 s behind (libfaketime), under a mixed load
    whose reports are retried: no job lost, none run twice, no retry dropped."""
    result = Result("R7", "clock skew: workers +5 s and -5 s")
    lib = libfaketime()
    if lib is None:
        result.failures.append(f"libfaketime not found ({LIBFAKETIME}): apt-get install faketime")
        return result
    from worker.dead_workers import claimer_of

    tag = f"R7-{uuid.uuid4().hex[:6]}"
    env = {**stack.env(), "S3_BUCKET": f"aula-r7-{uuid.uuid4().hex[:8]}"}
    # The stack's own tier stays up, idle without its sqsd: R7's instances poll the queue instead.
    stack.stop("sqsd")
    try:
        _start_tiers(stack, lib, env["S3_BUCKET"])
        offsets = {tier: _clock_offset(stack.urls[f"worker-{tier}"]) for tier in TIERS}
        result.notes.append("clock offsets (Date header): " + ", ".join(f"{t} {o:+.1f} s" for t, o in offsets.items()))
        result.check(abs(offsets["ahead"] - SKEW_S) <= 1.5 and abs(offsets["behind"] + SKEW_S) <= 1.5,
                     f"the tiers' clocks are not skewed as asked: {offsets}")
        # Children are created on the skewed clocks: a job made by the tier behind is dated up to 5 s early.
        since = now() - timedelta(seconds=SKEW_S + 1)
        load = Load(stack.web, stack.login(), mixed_calls(teacher_classes(stack), tag, 3),
                    rate=form.pick(1.0, 2.0)).start()
        time.sleep(form.pick(6, 30))
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=env["S3_BUCKET"])
        time.sleep(form.pick(6, 90))
        outcome = load.stop()
        ended = time.monotonic()
        count_load(stack, result, outcome, since, tag, timeout=form.pick(60, 300))
        result.recover_s = time.monotonic() - ended
        result.p99_ms = outcome.p99_ms()
        tiers = {tier: {claimer_of(pid) for pid in stack.worker_pids(f"worker-{tier}")} for tier in TIERS}
        _check_attempts(stack, result, since, tiers)
        reports = count.report_jobs(stack.engine, outcome.accepted())
        files = count.report_files(env)
        result.notes.append(f"{len(reports)} reports, files {sum(files[str(r)] for r in reports)}")
        result.check(all(files[str(r)] == 1 for r in reports), "a report without exactly one file")
        early = {tier: (stack.work_dir / f"worker-{tier}.log").read_text(errors="replace").count("not due until")
                 for tier in TIERS}
        result.notes.append(f"deliveries before their job was due on that tier's clock (sent again): {early}")
    finally:
        for name in ("sqsd-ahead", "sqsd-behind", "worker-ahead", "worker-behind"):
            if name in stack.group.processes:
                stack.stop(name)
        stack.start_sqsd()
    return result
