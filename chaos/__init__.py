"""`make chaos`: faults injected into the real local stack, results counted at the source of
truth (the database's jobs and effects, the SES stand-in). See docs/reliability.md."""
