"""R8: soak. Mixed load for 3 minutes (CI) or 30 (long) while every process of the stack is
sampled from /proc (chaos/procstats.py) and the cluster's pg_stat_activity; after the warm-up,
no process's RSS grows by 10%, no count of open files or database connections grows, and nothing
errs: no answer >= 400 or none, no job failed, lost or left open.

Processes are tracked by role, not pid (chaos/scenarios/r8_sampler.py): gunicorn replaces a
worker that dies (and would recycle one after max_requests, which gunicorn.conf.py does not
set), and the replacement takes over its slot. Here a replaced worker is a failure, since
nothing should end one."""
from __future__ import annotations

import time
import uuid
from collections import Counter

import requests

from chaos import count, procstats
from chaos.load import Call, Load, Outcome
from chaos.result import Result
from chaos.scenarios.common import Form, count_load, mixed_calls, now, teacher_classes
from chaos.scenarios.r8_sampler import Sampler
from chaos.stack import TEACHER, WEB_THREADS, ChaosStack

STUDENT = ("student01@aula.local", "aula-student")
# Logins in a loop as a user of their own: past 50 live logins a new one ends the oldest
# (core/auth.py MAX_LOGINS_PER_USER), which would end the student's browser session (the long
# form's first run: 393 inbox views redirected to /login after 500 s).
LOGIN_USER = ("teacher2@aula.local", "aula-teacher")
# moto keeps every email and object it was given (the counts read them back): it grows with the
# work by design, so its RSS is shown, not judged.
STAND_INS = ("moto",)
WARMUP = 0.22  # of the run: pools filled, every worker has built each kind of report
RSS_LIMIT = 0.10
BACKEND = "postgres backend"
POOL_SIZE = 5  # core/db.py's pool_size: the connections a process's pool keeps
POOL_BOUND = 10  # core/db.py: pool_size 5 + max_overflow 5 per process
# A web worker also keeps the one-statement reads' connections (web/common/reads.py: the API's
# and the pages' login, a job's poll), as many as its threads ever read at once, besides its pool.
READS_BOUND = int(WEB_THREADS)


def _api_calls(classes: list[int], tag: str, load_ref: list[Load]):
    """Of every 10: one activity published (its emails to the class), three polls of a job this
    load was given, six reports (every kind and format, each class in turn)."""
    publish_or_report = mixed_calls(classes, tag, activity_every=10)

    def call(n: int) -> Call:
        if n % 10 in (3, 6, 9):
            jobs = [s.job_id for s in load_ref[0].outcome.samples[-20:] if s.job_id is not None]
            if jobs:
                return Call("GET", f"/api/jobs/{jobs[n % len(jobs)]}")
        return publish_or_report(n)

    return call


def _pages(paths: list[str]):
    return lambda n: Call("GET", paths[n % len(paths)])


def _cookie(stack: ChaosStack, email: str, password: str) -> dict[str, str]:
    """A browser session as the login page gives it (its form's CSRF token, then the cookie)."""
    browser = requests.Session()
    page = browser.get(stack.web + "/login", timeout=30).text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    browser.post(stack.web + "/login", data={"csrf_token": token, "email": email, "password": password},
                 timeout=30, allow_redirects=False).raise_for_status()
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.cookies)}


def _judged_series(result: Result, sampler: Sampler, warm: float, end: float):
    """Each role's samples after the warm-up, of one pid; a backend that was not there from the
    warm-up's end to the end (pool overflow) has no start or no end to compare: None."""
    for role in sorted(sampler.procs):
        series = [(t, s) for t, s in sampler.procs[role] if t >= warm]
        if not series:
            continue
        if role.startswith(BACKEND) and (series[0][0] > warm + 2 * sampler.interval
                                         or series[-1][0] < end - 2 * sampler.interval):
            yield role, None
            continue
        pids = sorted({s.pid for _, s in series})
        current = [s for _, s in series if s.pid == pids[-1]]
        if len(pids) > 1 or len(current) < 6:
            result.failures.append(f"{role}: pids {pids} after the warm-up, too few samples of one to judge")
            continue
        yield role, current


def _judge_processes(result: Result, sampler: Sampler, warm: float, end: float) -> None:
    judged = dict(_judged_series(result, sampler, warm, end))
    came_and_went = sum(1 for series in judged.values() if series is None)
    # A PostgreSQL process's shared-buffer pages are the cluster's, counted once: its own memory
    # is the rest. A backend's caches (catalog, relations, plans) fill as its connection runs
    # queries it had not run yet: one the pool seldom handed out during the warm-up fills them
    # later, up to what the busiest backends already held. So a backend starts from the
    # largest warmed backend's level; a leak still shows, it keeps growing past that.
    figures = {}
    for role, series in judged.items():
        if series is not None:
            values = [s.private_kb if role.startswith("postgres") else s.rss_kb for s in series]
            figures[role] = procstats.growth(values)
    warmed = max((start for role, (start, _, _) in figures.items() if role.startswith(BACKEND)), default=0)
    for role, (start, last, change) in figures.items():
        series = judged[role]
        private = role.startswith("postgres")
        line = (f"{role} pid {series[-1].pid}: {'private ' if private else ''}RSS {start / 1024:.1f} -> "
                f"{last / 1024:.1f} MB ({change:+.1%})")
        if role.startswith(BACKEND) and start < warmed:
            change = (last - warmed) / warmed
            line += f", {change:+.1%} from the warmed backends' {warmed / 1024:.1f} MB"
        if role in STAND_INS:
            line += " (the AWS stand-in keeps every email and object: shown, not judged)"
        else:
            result.check(change < RSS_LIMIT, f"{role}: RSS grew {change:+.1%} after the warm-up")
        result.notes.append(line + _judge_fds(result, role, series, sampler.max_files))
    result.notes.append(f"{len(figures)} processes judged; {came_and_went} database backends opened or closed "
                        f"after the warm-up (pool overflow), counted in the connections only")


APART = ("relation files", "accepted connections", "database connections")


def _apart(kind: str) -> str | None:
    """Kinds of fd counted apart from the open files that must not grow. A PostgreSQL backend
    keeps the files of the tables and indexes it touched open, a cache bounded by
    max_files_per_process. A server's accepted connections are its clients' doing: each is
    judged at the client that opens it (its "tcp to ..."), where a pool bounds it; a process's
    own connections to PostgreSQL are its pool's, judged by _judge_connections."""
    if kind == "relation files":
        return kind
    if kind == "tcp to PostgreSQL":
        return "database connections"
    return "accepted connections" if kind.startswith("tcp from clients of") else None


def _judge_fds(result: Result, role: str, samples: list[procstats.ProcSample], max_files: int) -> str:
    if any(s.fds is None for s in samples):
        return ", open files not readable"
    split = [Counter({(_apart(k) or "own"): n for k, n in s.kinds.items()}) for s in samples]
    for parts, s in zip(split, samples, strict=True):
        parts["own"] = s.fds - sum(parts[k] for k in APART)
    own = [p["own"] for p in split]
    first, last = procstats.thirds_median(own)
    text = f", open files {first:g} -> {last:g} (max {'{} -> {}'.format(*procstats.thirds_max(own))})"
    if last > first:
        third = max(1, len(samples) // 3)
        before = max(samples[:third], key=lambda s: s.fds).kinds
        after = max(samples[-third:], key=lambda s: s.fds).kinds
        grew = {k: f"{before[k]} -> {n}" for k, n in after.items() if n > before[k] and not _apart(k)}
        result.failures.append(f"{role}: open files grew, max {first} -> {last}: {grew}")
    for kind in APART:
        if any(p[kind] for p in split):
            a, b = procstats.thirds_max([p[kind] for p in split])
            text += f" (+ {kind} max {a} -> {b})"
    relation = max(p["relation files"] for p in split)
    result.check(relation <= max_files, f"{role}: {relation} relation files open, above max_files_per_process "
                                        f"{max_files}")
    return text


def _judge_connections(result: Result, sampler: Sampler, warm: float) -> None:
    series = [held for t, held in sampler.conns if t >= warm]
    holders = sorted({h for held in series for h in held})
    for holder in ["all", *holders]:
        counts = [sum(held.values()) if holder == "all" else held.get(holder, 0) for held in series]
        first, last = procstats.thirds_median(counts)
        result.notes.append(f"database connections of {holder}: {first:g} -> {last:g} (max "
                            f"{'{} -> {}'.format(*procstats.thirds_max(counts))}, range {min(counts)}-{max(counts)})")
        pooled = holder not in ("all", "chaos runner")
        # A pool opens its connections as concurrency first needs them and keeps up to POOL_SIZE
        # (a web worker its reads' too): one more after the warm-up, within that, is the pool
        # filling (CI runs' bursts took a web worker from 3 to 4, and 5 to 6), not a leak; past
        # it, an overflow connection that stays is.
        reads = READS_BOUND if holder.startswith("web worker") else 0
        allowed = first if not pooled else max(first, POOL_SIZE + reads)
        if holder == "all":
            allowed = max(first, sum(POOL_SIZE + (READS_BOUND if h.startswith("web worker") else 0)
                                     for h in holders if h != "chaos runner"))
        result.check(last <= allowed, f"database connections of {holder} grew, {first:g} -> {last:g}")
        if pooled:
            bound = POOL_BOUND + reads
            result.check(max(counts) <= bound, f"{holder} held {max(counts)} connections (bound {bound})")


def r8_soak(stack: ChaosStack, form: Form) -> Result:
    """Reports of each kind and format, activity publishes with their emails, job polls, the
    teacher's /jobs and /notifications, the student's inbox, logins; every process sampled."""
    result = Result("R8", f"soak {form.pick(3, 30)} min: RSS, fds, connections")
    tag = f"R8-{uuid.uuid4().hex[:6]}"
    duration, interval = form.pick((180, 5.0), (1800, 15.0))
    since = now()
    load_ref: list[Load] = []
    api = Load(stack.web, stack.login(), _api_calls(teacher_classes(stack), tag, load_ref), rate=1.0, connections=6)
    load_ref.append(api)
    loads = [api,
             Load(stack.web, _cookie(stack, *TEACHER), _pages(["/jobs", "/notifications"]), rate=0.5, connections=3),
             Load(stack.web, _cookie(stack, *STUDENT), _pages(["/notifications"]), rate=0.3, connections=2),
             Load(stack.web, {}, lambda n: Call("POST", "/api/login", dict(zip(("email", "password"), LOGIN_USER,
                                                                               strict=True))),
                  rate=0.1, connections=1)]
    sampler = Sampler(stack, interval).start()
    for load in loads:
        load.start()
    try:
        time.sleep(duration)
    finally:
        outcome = Outcome([s for load in loads for s in load.stop().samples])
        sampler.stop()
        sampler.take()  # the last sample at the very end of the load
    ended = time.monotonic()
    count_load(stack, result, outcome, since, tag, timeout=form.pick(90, 600))
    result.recover_s = time.monotonic() - ended
    result.p99_ms = outcome.p99_ms()
    # Nothing in the mix redirects: a 3xx is a page sent to /login, a session lost.
    errs = [s for s in outcome.samples if s.status is None or s.status >= 300]
    result.check(not errs, f"{len(errs)} requests answered >= 300 or not at all, e.g. "
                           f"{[(s.path, s.status) for s in errs[:3]]}")
    states = count.jobs_since(stack.engine, since)
    result.check(set(states) <= {"succeeded"}, f"jobs not succeeded: {dict(states)}")
    result.check(not sampler.replaced, f"gunicorn workers replaced (no max_requests is set): {sampler.replaced}")
    result.check(not sampler.errors, f"samples lost: {sampler.errors[:3]}")
    warm = duration * WARMUP
    result.notes.append(f"{len(sampler.conns)} samples every {interval:g} s; judged from {warm:.0f} s to "
                        f"{duration} s; web p99 {result.p99_ms:.0f} ms over {len(outcome.samples)} requests")
    _judge_processes(result, sampler, warm, duration)
    _judge_connections(result, sampler, warm)
    return result
