"""Step and compensation implementations of the workflows declared in core/jobs/workflows.py.

Each workflow module registers its functions with `@step(SPEC, name)` and
`@compensation(SPEC, name)` (worker/workflows/registry.py). `load()` imports every workflow
module; `check_workflows()` loads them and refuses what does not match the declarations.
"""
from __future__ import annotations

from worker.workflows import registry


def load() -> None:
    """Import every workflow module (each registers its functions when imported)."""
    from worker.workflows.seed import compensations, steps  # noqa: F401


def problems() -> list[str]:
    """Every mismatch between the declared workflows and their implementations, one line each."""
    load()
    return registry.problems()


def check_workflows() -> None:
    """Raise RuntimeError naming every declared step without an implementation, every
    compensable step without a compensation, and every function registered for a step that is
    not declared."""
    found = problems()
    if found:
        raise RuntimeError("workflow steps do not match core/jobs/workflows.py:\n  - " + "\n  - ".join(found))
