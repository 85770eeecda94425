"""The OneRoster standard: reading, validating and generating CSV bundles. No Django here.

Public API of the reader::

    from rollbook.oneroster import read_bundle, BundleError
    result = read_bundle("export.zip", strict=False, encoding=None)
"""

from .bundle import BundleError
from .findings import CODES, Finding, Findings, Severity
from .model import FileInfo, ReadResult, RosterModel
from .validate import read_bundle

__all__ = [
    "CODES",
    "BundleError",
    "FileInfo",
    "Finding",
    "Findings",
    "ReadResult",
    "RosterModel",
    "Severity",
    "read_bundle",
]
