"""Hypothesis: bundles written from generated records read back as the same records."""

from __future__ import annotations

import csv
import io
import tempfile
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollbook.directory.contacts import HIDDEN_CHARACTERS
from rollbook.oneroster.validate import read_bundle

from .conftest import MANIFEST_11, USERS_11, base_files, manifest_text, write_bundle

ident = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/@-]{0,20}", fullmatch=True)
name = st.text(
    # Names read back in Unicode NFC; hidden characters are reported and removed (tested in
    # test_names.py), so none are drawn here.
    st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
        blacklist_characters='\x00"\r\n' + HIDDEN_CHARACTERS,
    ),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() == s and s)
user = st.tuples(ident, name, name, st.sampled_from(["student", "teacher", "aide"]), st.booleans())


def users_csv(rows: list[tuple[str, str, str, str, bool]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(USERS_11.strip().split(","))
    for sid, given_name, family, role, enabled in rows:
        w.writerow(
            [
                sid,
                "",
                "",
                str(enabled).lower(),
                "sch",
                role,
                sid,
                "",
                given_name,
                family,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    return buf.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(user, min_size=1, max_size=15, unique_by=lambda u: u[0]))
def test_users_round_trip(rows: list[tuple[str, str, str, str, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = base_files(
            users__csv=users_csv(rows),
            enrollments__csv=None,
            manifest__csv=manifest_text({**MANIFEST_11, "file.enrollments": "absent"}),
        )
        result = read_bundle(write_bundle(Path(tmp) / "b", files), strict=True)
    assert result.findings.counts() == {}
    users = result.model.users
    got = list(
        zip(
            users["sourced_id"].to_pylist(),
            users["given_name"].to_pylist(),
            users["family_name"].to_pylist(),
            result.model.user_roles["role"].to_pylist(),
            users["enabled_user"].to_pylist(),
            strict=True,
        )
    )
    assert got == [
        (sid, unicodedata.normalize("NFC", g), unicodedata.normalize("NFC", f), role, on)
        for sid, g, f, role, on in rows
    ]
    assert users["line"].to_pylist() == list(range(2, len(rows) + 2))
