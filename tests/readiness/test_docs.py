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
