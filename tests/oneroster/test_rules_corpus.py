"""The rules of the 1.2.1 CSV binding, each on a single-defect bundle, and spec-valid edge
bundles on which strict mode (1EdTech conformance and nothing more) reports no error."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollbook.oneroster.findings import CODES, Severity
from rollbook.oneroster.rulecodes import RULE_SPECS
from rollbook.oneroster.validate import read_bundle

from .conftest import BASE_11, base_files, write_bundle
from .rule_bundles import MORE_DEFECTS, RULE_TRIGGERS, VALID_EDGES, Builder

DEFECTS: dict[str, tuple[str, Builder]] = {
    **{code: (code, build) for code, build in RULE_TRIGGERS.items()},
    **MORE_DEFECTS,
}


def test_every_new_rule_has_a_single_defect_bundle() -> None:
    assert {s.code for s in RULE_SPECS} == set(RULE_TRIGGERS)


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_a_single_defect_is_found_and_nothing_else(name: str, tmp_path: Path) -> None:
    code, build = DEFECTS[name]
    path, kw = build(tmp_path)
    strict = read_bundle(path, strict=True, **kw)  # type: ignore[arg-type]
    errors = {c for c, s in strict.findings.by_code.items() if s.severity is Severity.ERROR}
    assert errors == {code}, strict.findings.counts()
    assert not strict.can_sync
    lenient = read_bundle(path, **kw)  # type: ignore[arg-type]
    assert code in lenient.findings.counts()
    assert lenient.findings.by_code[code].severity is CODES[code].lenient
    for finding in lenient.findings.all():
        assert finding.file, finding  # every finding says where


@pytest.mark.parametrize("name", sorted(VALID_EDGES))
def test_strict_mode_calls_no_valid_bundle_wrong(name: str, tmp_path: Path) -> None:
    result = read_bundle(write_bundle(tmp_path / "b", VALID_EDGES[name]), strict=True)
    errors = [f for f in result.findings.all() if f.severity is Severity.ERROR]
    assert not errors, [f.message for f in errors]
    assert result.can_sync


def test_the_base_bundle_is_clean(tmp_path: Path) -> None:
    result = read_bundle(write_bundle(tmp_path / "b", VALID_EDGES["the base bundle"]), strict=True)
    assert result.findings.counts() == {}
    assert result.model.user_roles.num_rows == 3


def test_cross_file_findings_name_the_column_as_the_file_spells_it(tmp_path: Path) -> None:
    """A 1.0 header name (`agents`) is reported once as an alias; later findings about that
    column use the file's name for it."""
    users = BASE_11["users.csv"].replace("agentSourcedIds", "agents", 1).replace(",par1,", ",par9,")
    result = read_bundle(write_bundle(tmp_path / "b", base_files(users__csv=users)))
    finding = result.findings.by_code["OR-REF-USER-AGENT"].instances[0]
    assert finding.column == "agents"
    assert finding.message.startswith("users.csv line 2: agents 'par9'")
