"""The operations console's JSON API under /api/ops/: one blueprint, "ops", with a module per
area of the console. Importing a module attaches its routes to the blueprint."""
from web.api.ops import audit, batches, deadletters, jobs, overview, periodic, workflows  # noqa: F401
from web.api.ops.blueprint import bp

__all__ = ["bp"]
