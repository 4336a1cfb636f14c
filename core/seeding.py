"""The seed of an institution with demo data: its parameters and its plan.

`seed_params` validates what an admin (API) or an operator (CLI) asks for and fills in the
defaults; the result is what the `seed_institution` workflow stores as its params. `SeedPlan`
derives everything else from those params alone (emails, names, the class layout), so each
step of the workflow (worker/workflows/seed/), run in its own job and perhaps more than once,
computes the same plan.

Shape: one admin; teachers teacher@, teacher2@, ...; students student01@, ... (zero-padded to
the width of the largest number, at least 2 digits). Students are split into sections of about
`class_size`; each section has a core class (MAT-101, MAT-102, ...) with all its students and an
elective (HIS-201, GEO-202, ...) with every other one. Classes go to teachers round robin, core
and elective alternating, so with two teachers teacher@ teaches MAT and teacher2@ the electives.
The demo (36 students) is thus MAT-101 with 36 students taught by teacher@ and HIS-201 with 18
taught by teacher2@.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.parsing import InputError, json_int

WORKFLOW = "seed_institution"

ADMIN_PASSWORD = "aula-admin"
TEACHER_PASSWORD = "aula-teacher"
STUDENT_PASSWORD = "aula-student"
PASSWORDS = {"admin": ADMIN_PASSWORD, "teacher": TEACHER_PASSWORD, "student": STUDENT_PASSWORD}

FIRST_NAMES = ("Ana", "Bruno", "Camila", "Diego", "Elena", "Felipe", "Gabriela", "Hugo", "Inés", "João",
               "Karina", "Lucas", "María", "Nicolás", "Olivia", "Pedro", "Quim", "Rafaela", "Sofía", "Tomás")
LAST_NAMES = ("Silva", "García", "Souza", "Martínez", "Costa", "Fernández", "Oliveira", "López")
TEACHER_FIRST_NAMES = ("Teresa", "Tiago", "Beatriz", "Carlos", "Daniela", "Eduardo", "Fernanda", "Gonzalo",
                       "Helena", "Ignacio", "Juliana", "Marcos", "Natalia", "Rodrigo", "Valentina", "Vicente")
ADMIN_NAME = "Adriana Admin"
TEACHER_NAMES = ("Teresa Docente", "Tiago Professor")  # teacher@ and teacher2@, as in the README

CORE_SUBJECT = ("MAT", "Álgebra I", ("Conjuntos", "Expressões algébricas", "Equações de 1º grau", "Inequações",
                                     "Sistemas lineares", "Funções", "Função afim", "Função quadrática"))
ELECTIVES = (
    ("HIS", "História do Brasil", ("Povos originários", "Colonização", "Ciclo do ouro", "Independência",
                                   "Império", "Abolição", "República Velha", "Era Vargas")),
    ("GEO", "Geografía", ("Cartografía", "Relieve", "Clima", "Hidrografía", "Población", "Ciudades",
                          "Economía", "Globalización")),
    ("LIT", "Literatura", ("Poesía", "Cuento", "Novela", "Teatro", "Ensayo", "Crónica", "Barroco",
                           "Modernismo")),
    ("BIO", "Biologia", ("Célula", "Genética", "Evolução", "Ecologia", "Botânica", "Zoologia", "Fisiologia",
                         "Microbiologia")),
)
ACTIVITY_TITLES = ("Lista de exercícios", "Trabalho em grupo", "Prova parcial", "Seminário", "Projeto")

LIMITS = {
    "students": (1, 20_000),
    "teachers": (1, 2_000),
    "class_size": (2, 200),
    "lessons_per_class": (0, 40),
    "activities_per_class": (0, 20),
}
DEFAULTS = {"students": 36, "class_size": 30, "lessons_per_class": 8, "activities_per_class": 3}
# Attendance and grades are written in one transaction each. PostgreSQL on a 2-CPU machine takes
# ~10,000 such rows a second (foreign key and index checks dominate), so this keeps a step near
# 80 s, well inside the workflow_step time limit of 300 s.
MAX_ROWS_PER_STEP = 750_000

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,200}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
FIELDS = ("name", "slug", "email_domain", *LIMITS)


class SeedParamsError(ValueError):
    """Bad seed parameters; `field` names the first one at fault (the API answers 400 with it)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def seed_params(raw: Any) -> dict[str, Any]:
    """Validate the parameters of a seed and fill in the defaults. Pure: no database."""
    if not isinstance(raw, dict):
        raise SeedParamsError("params", "must be an object")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise SeedParamsError(unknown[0], f"unknown field (known: {', '.join(FIELDS)})")

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise SeedParamsError("name", "required, a non-empty string (no NUL characters)")
    if len(name) > 200:  # as given, as the API's document counts it
        raise SeedParamsError("name", "at most 200 characters")
    name = " ".join(name.split())

    slug = raw.get("slug")
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):  # fullmatch: "$" would allow a final "\n"
        raise SeedParamsError("slug", "required: 1-80 lowercase letters, digits and inner hyphens")

    domain = raw.get("email_domain")
    if domain is None:
        domain = f"{slug}.aula.local"
    # ASCII first: "K" (the Kelvin sign) lower-cases to "k" and would pass as a letter.
    if not isinstance(domain, str) or not domain.isascii() or not _DOMAIN.fullmatch(domain.lower()):
        raise SeedParamsError("email_domain", "must be a domain name such as school.example.org")
    domain = domain.lower()

    def integer(field: str, default: int) -> int:
        value = raw.get(field)
        if value is None:
            value = default
        low, high = LIMITS[field]
        try:
            return json_int(value, field, low, high)  # 30.0 is 30, as JSON Schema says
        except InputError:
            raise SeedParamsError(field, f"must be an integer from {low} to {high}") from None

    students = integer("students", DEFAULTS["students"])
    params = {
        "name": name,
        "slug": slug,
        "email_domain": domain,
        "students": students,
        "teachers": integer("teachers", max(2, students // 30)),
        "class_size": integer("class_size", DEFAULTS["class_size"]),
        "lessons_per_class": integer("lessons_per_class", DEFAULTS["lessons_per_class"]),
        "activities_per_class": integer("activities_per_class", DEFAULTS["activities_per_class"]),
    }
    plan = SeedPlan(params)
    for field, rows in (("lessons_per_class", plan.attendance_rows), ("activities_per_class", plan.grade_rows)):
        if rows > MAX_ROWS_PER_STEP:
            raise SeedParamsError(field, f"{rows:,} rows is more than one step writes ({MAX_ROWS_PER_STEP:,}); "
                                         "ask for fewer students or fewer per class")
    return params


@dataclass(frozen=True)
class ClassPlan:
    code: str
    name: str
    subject: str
    topics: tuple[str, ...]
    teacher: int  # index into the teachers, 0 = teacher@
    students: range  # indexes into the students, 0 = student01@


class SeedPlan:
    """Everything the seed writes, derived from the (validated) params alone."""

    def __init__(self, params: dict[str, Any]):
        self.params = params
        self.domain: str = params["email_domain"]
        self.students: int = params["students"]
        self.teachers: int = params["teachers"]
        self.lessons_per_class: int = params["lessons_per_class"]
        self.activities_per_class: int = params["activities_per_class"]
        self._width = max(2, len(str(self.students)))
        sections = max(1, round(self.students / params["class_size"]))
        base, extra = divmod(self.students, sections)
        classes, start = [], 0
        for k in range(sections):
            end = start + base + (1 if k < extra else 0)
            suffix = "" if k == 0 else f" (turma {k + 1})"
            elective_code, elective_title, elective_topics = ELECTIVES[k % len(ELECTIVES)]
            core_code, core_title, core_topics = CORE_SUBJECT
            for code, title, topics, members in (
                (f"{core_code}-{101 + k}", core_title, core_topics, range(start, end)),
                (f"{elective_code}-{201 + k}", elective_title, elective_topics, range(start, end, 2)),
            ):
                classes.append(ClassPlan(code, title + suffix, title, topics, len(classes) % self.teachers, members))
            start = end
        self.classes: tuple[ClassPlan, ...] = tuple(classes)

    @property
    def enrollment_rows(self) -> int:
        return sum(len(c.students) for c in self.classes)

    @property
    def attendance_rows(self) -> int:
        return self.enrollment_rows * self.lessons_per_class

    @property
    def grade_rows(self) -> int:
        return self.enrollment_rows * self.activities_per_class

    def admin_email(self) -> str:
        return f"admin@{self.domain}"

    def teacher_email(self, index: int) -> str:
        return f"teacher@{self.domain}" if index == 0 else f"teacher{index + 1}@{self.domain}"

    def teacher_name(self, index: int) -> str:
        if index < len(TEACHER_NAMES):
            return TEACHER_NAMES[index]
        first = TEACHER_FIRST_NAMES[index % len(TEACHER_FIRST_NAMES)]
        return f"{first} {LAST_NAMES[(index // len(TEACHER_FIRST_NAMES)) % len(LAST_NAMES)]}"

    def student_email(self, index: int) -> str:
        return f"student{index + 1:0{self._width}d}@{self.domain}"

    def student_name(self, index: int) -> str:
        # The first 160 as in the original demo ("Ana Silva", "Bruno Silva", ...), then a second
        # surname so that names stay distinct for longer.
        first = FIRST_NAMES[index % len(FIRST_NAMES)]
        per_last = len(FIRST_NAMES) * len(LAST_NAMES)
        name = f"{first} {LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]}"
        if index >= per_last:
            name += f" {LAST_NAMES[(index // per_last) % len(LAST_NAMES)]}"
        return name


def open_seed_workflows(session: Session, slug: str) -> list[Any]:
    """Seed workflows for `slug` that have not finished (running or compensating)."""
    from core.models import Workflow
    from core.models.orchestration import UNFINISHED_WORKFLOW_STATES

    candidates = session.scalars(
        sa.select(Workflow).where(Workflow.name == WORKFLOW, Workflow.state.in_(UNFINISHED_WORKFLOW_STATES))
    ).all()
    return [w for w in candidates if (w.params or {}).get("slug") == slug]


def start_seed(session: Session, params: dict[str, Any], owner_id: int | None = None) -> Any:
    """Start the seed workflow with validated params; the caller commits, then flushes the outbox."""
    from core.jobs.workflows import start_workflow

    return start_workflow(session, WORKFLOW, params, owner_id)


def latest_seed_workflow(session: Session, slug: str) -> Any:
    from core.models import Workflow

    candidates = session.scalars(
        sa.select(Workflow).where(Workflow.name == WORKFLOW).order_by(Workflow.created_at.desc())
    ).all()
    return next((w for w in candidates if (w.params or {}).get("slug") == slug), None)
