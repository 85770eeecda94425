"""Every self-check code is documented where administrators look it up."""

from pathlib import Path

from rollbook.readiness.report import CODES, SECTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "self-check.md"


def test_every_code_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [code for code in CODES if f"`{code}`" not in text]
    assert not missing, f"add these codes to docs/self-check.md: {missing}"


def test_every_code_belongs_to_a_section():
    assert {c.section for c in CODES.values()} <= set(SECTIONS)


def test_the_json_report_says_exactly_what_the_report_holds():
    """Rows are written one per line; the JSON still reads back as the report itself."""
    import json

    from rollbook.readiness.report import CODES, Report

    report = Report(1, "bundle", True, verdict='ready, "quoted" \\ and ünïcode')
    first, second = list(CODES)[:2]
    report.add(first, [{"name": 'Zoë "x"', "n": 1}, {"name": "line\nbreak", "n": None}])
    report.add(second, [], count=3)
    text = report.to_json()
    assert json.loads(text) == json.loads(json.dumps(report.as_dict(), default=str))
    assert '{"name":"Zoë \\"x\\"","n":1},' in text  # one row, one line
