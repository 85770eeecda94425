"""Deterministic generator of realistic OneRoster 1.1/1.2 CSV bundles (see docs/generator.md).

Public API: :func:`generate_bundle` (a bulk bundle for N students) and :func:`derive_next_day`
(the next day's bundle of a generated one, as bulk or delta). No Django here.
"""

from .bundle import GeneratorSummary, generate_bundle
from .nextday import NextDaySummary, derive_next_day

__all__ = ["GeneratorSummary", "NextDaySummary", "derive_next_day", "generate_bundle"]
