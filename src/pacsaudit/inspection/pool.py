"""Moved to :mod:`pacsaudit.files.pool` (shared by inspect and deid); kept for its importers."""

from pacsaudit.files.pool import MAX_JOBS, check_jobs, max_jobs, ordered_map

__all__ = ["MAX_JOBS", "check_jobs", "max_jobs", "ordered_map"]
