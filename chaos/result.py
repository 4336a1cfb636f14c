"""One scenario's counted result, its one-line summary, and its invariant."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Result:
    name: str
    title: str
    accepted: int = 0
    finished: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    recover_s: float | None = None  # from the end of the fault until everything was finished
    p99_ms: float | None = None  # the web tier's p99 during the fault (None: the tier was down)
    failures: list[str] = field(default_factory=list)  # broken invariants, each a sentence
    notes: list[str] = field(default_factory=list)  # the detail behind the figures

    @property
    def ok(self) -> bool:
        return not self.failures and self.lost == 0 and self.duplicated == 0 and self.stuck == 0

    def check(self, condition: bool, failure: str) -> None:
        if not condition:
            self.failures.append(failure)

    def line(self) -> str:
        recover = f"{self.recover_s:.1f} s" if self.recover_s is not None else "-"
        p99 = f"{self.p99_ms:.0f} ms" if self.p99_ms is not None else "-"
        verdict = "ok" if self.ok else "FAILED"
        return (f"{self.name:<3} {self.title:<34} accepted {self.accepted:>5}  finished {self.finished:>5}  "
                f"lost {self.lost}  duplicated {self.duplicated}  stuck {self.stuck}  recovered {recover:>8}  "
                f"web p99 {p99:>8}  {verdict}")

    def detail(self) -> str:
        lines = [f"    {note}" for note in self.notes]
        lines += [f"    !! {failure}" for failure in self.failures]
        return "\n".join(lines)
