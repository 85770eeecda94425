"""No input ends in a traceback: small valid bundles, mutated thousands of times.

The only outcomes allowed are a ReadResult (with findings) whose model a sync can use — every
value converts to Python, the JSON report is written — or the bundle refused whole
(BundleError). Every case that ever broke that is kept as a file in ``corpus/`` and replayed
by :func:`test_corpus_case`; a new failure is written there by the fuzz tests themselves
(commit it with the fix).

Hypothesis runs derandomized (the same cases on every machine and every run: a failure in CI
is a failure here) and without its example database: 1,000 cases per test, 2,000 in all with
the corpus beside them (``ROLLBOOK_FUZZ_EXAMPLES=20000`` for a longer hunt). About 50 ms of
CPU each: the two generating tests are marked ``slow`` (``-m 'not slow'`` while iterating);
the corpus replay always runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollbook.oneroster import BundleError, ReadResult, read_bundle

from .conftest import MANIFEST_11, base_files, manifest_text

CORPUS = Path(__file__).parent / "corpus"
FUZZ = settings(
    max_examples=int(os.environ.get("ROLLBOOK_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DEMOGRAPHICS = "sourcedId,status,dateLastModified,birthDate,sex\nstu1,,,2015-04-01,female\n"
BASES: list[dict[str, bytes]] = [
    {k: (v.encode() if isinstance(v, str) else v) for k, v in files.items()}
    for files in (
        base_files(),
        base_files(
            manifest__csv=manifest_text({**MANIFEST_11, "file.demographics": "bulk"}),
            demographics__csv=DEMOGRAPHICS,
        ),
    )
]
ODD_DATES = [
    "0000-01-01",
    "2020-02-30",
    "2021-02-29",
    "2020-13-01",
    "10000-01-01",
    "-001-01-01",
    "9999-12-31",
    "0001-01-01",
    "2020-00-00",
    "2020-02-30T10:00:00Z",
    "0000-01-01T00:00:00.000Z",
    "2020-01-01T25:61:61Z",
]
ODD_BYTES = [b'"', b"\r", b"\n", b",", b"\x00", b"\xff", b"\xc3", b"\xef\xbb\xbf", b'""', b"\r\n"]


def check(path: Path) -> None:
    """Read the bundle: a usable result, or the bundle refused. Nothing else."""
    try:
        result = read_bundle(path)
    except BundleError as exc:
        assert str(exc) and exc.code.startswith("OR-BUNDLE-")
        return
    assert isinstance(result, ReadResult)
    json.dumps(result.to_dict(), default=str)
    model = result.model
    for table in [*model.tables.values(), model.user_roles, model.guardian_links]:
        table.to_pylist()  # every value converts: no year 0, no date Python cannot hold
    for finding in result.findings.all():
        assert len(finding.message) <= 2000


def keep(case: bytes, suffix: str) -> Path:
    """Write a failing case into the corpus (named by its content)."""
    CORPUS.mkdir(exist_ok=True)
    path = CORPUS / f"{hashlib.sha256(case).hexdigest()[:16]}{suffix}"
    path.write_bytes(case)
    return path


def zip_bytes(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def checked(case: bytes, tmp_path: Path) -> None:
    """Check the zip ``case``; keep it in the corpus when it fails."""
    path = tmp_path / "case.zip"
    path.write_bytes(case)
    try:
        check(path)
    except BaseException:
        keep(case, ".zip")
        raise


# --- mutations of one file's bytes -----------------------------------------------------------
@st.composite
def mutated_file(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(
        st.sampled_from(
            [
                "flip",
                "truncate",
                "insert",
                "huge",
                "date",
                "swap-header",
                "cr-only",
                "utf16",
                "bom",
                "empty",
                "header-only",
                "drop-field",
            ]
        )
    )
    pos = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "flip":
        return data[:pos] + bytes([draw(st.integers(0, 255))]) + data[pos + 1 :]
    if kind == "truncate":
        return data[:pos]
    if kind == "insert":
        return data[:pos] + draw(st.sampled_from(ODD_BYTES)) + data[pos:]
    if kind == "huge":
        size = draw(st.sampled_from([131_073, 300_000]))
        return data[:pos] + draw(st.sampled_from([b"x", b"\xc3\xa9", b'"'])) * size + data[pos:]
    if kind == "date":
        lines = data.split(b"\n")
        row = draw(st.integers(0, max(len(lines) - 1, 0)))
        cells = lines[row].split(b",")
        col = draw(st.integers(0, max(len(cells) - 1, 0)))
        cells[col] = draw(st.sampled_from(ODD_DATES)).encode()
        lines[row] = b",".join(cells)
        return b"\n".join(lines)
    if kind == "swap-header":
        head, _, rest = data.partition(b"\n")
        names = head.split(b",")
        i, j = draw(st.integers(0, len(names) - 1)), draw(st.integers(0, len(names) - 1))
        names[i], names[j] = names[j], names[i]
        return b",".join(names) + b"\n" + rest
    if kind == "cr-only":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    if kind == "utf16":
        return data.decode("utf-8", "replace").encode(
            draw(st.sampled_from(["utf-16", "utf-16-le"]))
        )
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "empty":
        return b""
    if kind == "header-only":
        return data.partition(b"\n")[0] + b"\n"
    lines = data.split(b"\n")  # drop-field: one row loses its last field
    row = draw(st.integers(0, max(len(lines) - 1, 0)))
    lines[row] = lines[row].rpartition(b",")[0]
    return b"\n".join(lines)


@st.composite
def mutated_bundle(draw: st.DrawFn) -> dict[str, bytes]:
    files = dict(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(files)))
        files[name] = draw(mutated_file(files[name]))
    return files


@pytest.mark.slow
@FUZZ
@given(files=mutated_bundle(), method=st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]))
def test_mutated_files_read_or_refused(
    tmp_path: Path, files: dict[str, bytes], method: int
) -> None:
    checked(zip_bytes(files, method), tmp_path)


# --- mutations of the zip itself -------------------------------------------------------------
@st.composite
def mutated_zip(draw: st.DrawFn) -> bytes:
    files = dict(draw(st.sampled_from(BASES)))
    kind = draw(
        st.sampled_from(
            ["flip", "truncate", "duplicate", "case-twin", "nested", "junk", "drop", "stored"]
        )
    )
    if kind == "duplicate":
        name = draw(st.sampled_from(sorted(files)))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, data in files.items():
                zf.writestr(n, data)
            with warnings.catch_warnings():  # zipfile warns; a SIS's zip tool may not
                warnings.simplefilter("ignore")
                zf.writestr(name, files[name].replace(b"Ann", b"Eve"))
        return buf.getvalue()
    if kind == "case-twin":
        name = draw(st.sampled_from(sorted(files)))
        return zip_bytes({**files, name.upper(): files[name]})
    if kind == "nested":
        folder = draw(st.sampled_from(["export/", "a/b/", "__MACOSX/", "Export Files/"]))
        return zip_bytes({folder + n: d for n, d in files.items()})
    if kind == "junk":
        return zip_bytes({**files, "__MACOSX/._users.csv": b"\x00\x05", ".DS_Store": b"Bud1"})
    if kind == "drop":
        name = draw(st.sampled_from(sorted(files)))
        return zip_bytes({n: d for n, d in files.items() if n != name})
    if kind == "stored":
        return zip_bytes(files, zipfile.ZIP_STORED)
    data = zip_bytes(files, draw(st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2])))
    pos = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return data[:pos]
    flips = draw(
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=4)
    )
    out = bytearray(data)
    out[pos] ^= 0xFF
    for at, value in flips:
        out[at] = value
    return bytes(out)


@pytest.mark.slow
@FUZZ
@given(case=mutated_zip())
def test_mutated_zips_read_or_refused(tmp_path: Path, case: bytes) -> None:
    checked(case, tmp_path)


# --- the corpus: every case that ever failed -------------------------------------------------
def corpus_cases() -> list[Path]:
    return sorted(CORPUS.iterdir()) if CORPUS.is_dir() else []


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda p: p.name)
def test_corpus_case(case: Path) -> None:
    check(case)


def test_corpus_is_kept() -> None:
    """The corpus holds the cases of issue 16 at least."""
    assert len(corpus_cases()) >= 10
