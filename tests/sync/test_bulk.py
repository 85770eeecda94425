"""The bulk helpers on the real database, including reads through a second (ADBC) connection,
which only sees committed rows: these tests commit (transactional database)."""

import pyarrow as pa
import pytest
from django.db import connection

from rollbook.sync import bulk

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = pa.schema(
    [
        ("sourced_id", pa.string()),
        ("state_fingerprint", pa.int64()),
        ("local_id", pa.int64()),
        ("active", pa.bool_()),
        ("withheld", pa.bool_()),
    ]
)


def test_a_committed_read_through_adbc_equals_the_plain_one(district):
    from rollbook.directory.models import School
    from rollbook.sync.models import SyncSource

    source = SyncSource.objects.create(district=district, name="SIS")
    bulk.insert(
        "directory_school",
        pa.table(
            {
                "name": ["A", "B", "C"],
                "identifier": ["", "", "x"],
                "sourced_id": ["s-1", "s-2", "s-3"],
                "sis_fingerprint": [1, -2, 3],
                "status": ["active", "archived", "active"],
            }
        ),
        {"district_id": district.pk, "source_id": source.pk},
    )
    sql = (
        "SELECT sourced_id, sis_fingerprint, id, CASE WHEN status = 'active' THEN 1 ELSE 0 "
        "END, 0 FROM directory_school WHERE source_id = %s ORDER BY sourced_id"
    )
    assert not connection.in_atomic_block
    via_adbc = bulk.read_committed(sql, [source.pk], SCHEMA)
    plain = bulk.select(sql, [source.pk], SCHEMA)
    assert via_adbc.equals(plain)
    assert via_adbc["active"].to_pylist() == [True, False, True]
    assert School.objects.count() == 3


def test_update_and_upsert(district):
    from rollbook.directory.models import School
    from rollbook.sync.models import SyncRecord, SyncSource

    school = School.objects.create(district=district, name="Old")
    bulk.update(
        "directory_school",
        pa.table({"id": [school.pk], "name": ["New"]}),
        constants={"identifier": "N-1"},
    )
    school.refresh_from_db()
    assert (school.name, school.identifier) == ("New", "N-1")
    source = SyncSource.objects.create(district=district, name="SIS")
    rows = pa.table(
        {
            "entity": ["person"] * 2,
            "sourced_id": ["p-1", "p-2"],
            "fingerprint": [1, 2],
            "local_id": [10, 20],
            "active": [True, True],
            "withheld": [False, True],
        }
    )
    bulk.upsert(
        "sync_syncrecord", rows, ["source_id", "entity", "sourced_id"], {"source_id": source.pk}
    )
    bulk.upsert(
        "sync_syncrecord",
        rows.set_column(2, "fingerprint", pa.array([5, 6])),
        ["source_id", "entity", "sourced_id"],
        {"source_id": source.pk},
    )
    assert sorted(SyncRecord.objects.values_list("sourced_id", "fingerprint")) == [
        ("p-1", 5),
        ("p-2", 6),
    ]


def test_rows_go_in_order_many_to_a_statement_and_the_rest_one_by_one(district, monkeypatch):
    from rollbook.directory.models import School
    from rollbook.sync.models import SyncRecord, SyncSource

    monkeypatch.setattr(bulk, "ROWS_PER_STATEMENT", 7)
    monkeypatch.setattr(bulk, "CHUNK", 30)  # chunks of 30 rows: 4 statements of 7, 2 alone
    source = SyncSource.objects.create(district=district, name="SIS")
    n = 95
    rows = pa.table(
        {
            "name": [f"S{i}" for i in range(n)],
            "identifier": ["" if i % 3 else f"x'{i}" for i in range(n)],
            "sourced_id": [f"s-{i}" for i in range(n)],
            "status": ["active"] * n,
        }
    )
    bulk.insert("directory_school", rows, {"district_id": district.pk, "source_id": source.pk})
    stored = list(School.objects.order_by("id").values_list("sourced_id", "identifier"))
    assert stored == [(f"s-{i}", "" if i % 3 else f"x'{i}") for i in range(n)]

    def records(first: int, fingerprint: int) -> pa.Table:
        return pa.table(
            {
                "entity": ["person"] * n,
                "sourced_id": [f"p-{i}" for i in range(first, first + n)],
                "fingerprint": [fingerprint] * n,
                "local_id": list(range(n)),
                "active": [True] * n,
                "withheld": [False] * n,
            }
        )

    unique = ["source_id", "entity", "sourced_id"]
    bulk.upsert("sync_syncrecord", records(0, 1), unique, {"source_id": source.pk})
    bulk.upsert("sync_syncrecord", records(50, 2), unique, {"source_id": source.pk})
    got = dict(SyncRecord.objects.values_list("sourced_id", "fingerprint"))
    assert got == {f"p-{i}": 1 if i < 50 else 2 for i in range(n + 50)}


def test_a_large_first_load_rebuilds_the_indexes_and_keeps_the_constraints(district):
    from django.db import IntegrityError, transaction

    from rollbook.directory.models import School
    from rollbook.sync.models import SyncSource

    source = SyncSource.objects.create(district=district, name="SIS")
    n = 60_000
    rows = pa.table(
        {
            "name": [f"S{i}" for i in range(n)],
            "identifier": [""] * n,
            "sourced_id": [f"s-{i}" for i in range(n)],
            "status": ["active"] * n,
        }
    )
    before = sorted(name for name, _ in bulk._secondary_indexes("directory_school"))
    bulk.insert_many("directory_school", rows, {"district_id": district.pk, "source_id": source.pk})
    assert sorted(name for name, _ in bulk._secondary_indexes("directory_school")) == before
    assert School.objects.count() == n
    duplicate = rows.slice(0, n)  # the same sourcedIds again: the unique index refuses
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert_many(
            "directory_school",
            duplicate,
            {"district_id": district.pk, "source_id": source.pk},
            existing=0,
        )
    assert School.objects.count() == n


def test_index_builds_get_their_settings_and_give_them_back(district):
    def current() -> dict[str, str]:
        with connection.cursor() as cursor:
            out = {}
            for name in bulk.BUILD_SETTINGS[connection.vendor]:
                if connection.vendor == "sqlite":
                    cursor.execute(f"PRAGMA {name}")
                else:
                    cursor.execute("SELECT current_setting(%s)", [name])
                out[name] = str(cursor.fetchone()[0])
            return out

    from django.db import transaction

    with transaction.atomic():  # as in insert_many (PostgreSQL's are the transaction's)
        before = current()
        with connection.cursor() as cursor, bulk._build_settings(cursor):
            inside = current()
        assert inside != before
        assert inside == bulk.BUILD_SETTINGS[connection.vendor]
        assert current() == before


def test_a_large_first_load_still_checks_foreign_keys(district):
    from django.db import IntegrityError, transaction

    n = 60_000
    rows = pa.table(
        {"name": [f"S{i}" for i in range(n)], "identifier": [""] * n, "status": ["active"] * n}
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert_many("directory_school", rows, {"district_id": district.pk + 999})
    from rollbook.directory.models import School

    assert School.objects.count() == 0


def test_constants_are_stored_as_given_whatever_they_hold(district):
    """On SQLite, constants are written into the statement as literals: quotes, nulls,
    booleans and timestamps must all arrive unchanged."""
    import datetime as dt

    from rollbook.directory.models import Account

    stamp = dt.datetime(2026, 11, 29, 5, 0, 0, 123456, tzinfo=dt.UTC)
    bulk.insert(
        "directory_account",
        pa.table({"given_name": ["Ann", "Bo"], "email": ["ann@x.example", None]}),
        {
            "family_name": "O'Brien; DROP TABLE x --",
            "phone": None,
            "is_active": True,
            "origin": "sync",
            "created_at": stamp,
            "updated_at": stamp,
            "password": "",
        },
    )
    rows = list(Account.objects.order_by("given_name").values())
    assert [r["given_name"] for r in rows] == ["Ann", "Bo"]
    assert {r["family_name"] for r in rows} == {"O'Brien; DROP TABLE x --"}
    assert {r["phone"] for r in rows} == {None}
    assert [r["email"] for r in rows] == ["ann@x.example", None]
    assert {r["is_active"] for r in rows} == {True}
    assert {r["origin"] for r in rows} == {"sync"}
    assert {r["created_at"] for r in rows} == {stamp}


def test_sql_literals_quote_what_they_inline_and_leave_the_rest_bound():
    assert bulk._sql_literal("O'Brien") == "'O''Brien'"
    assert bulk._sql_literal(None) == "NULL"
    assert (bulk._sql_literal(True), bulk._sql_literal(False)) == ("1", "0")
    assert bulk._sql_literal(-7) == "-7"
    assert bulk._sql_literal("a\x00b") is None  # SQLite text literals stop at a NUL
    assert bulk._sql_literal(1.5) is None


def test_appended_ids_are_vouched_for_or_not_given(district):
    """The ids of rows just inserted, by position, only when the table proves them."""
    from rollbook.directory.models import School
    from rollbook.sync.models import SyncSource

    source = SyncSource.objects.create(district=district, name="SIS")

    def add(names: list[str]) -> None:
        bulk.insert(
            "directory_school",
            pa.table(
                {
                    "name": names,
                    "sourced_id": names,
                    "identifier": [""] * len(names),
                    "sis_fingerprint": [1] * len(names),
                }
            ),
            {"district_id": district.pk, "status": "active", "source_id": source.pk},
        )

    School.objects.create(district=district, name="before")
    after = bulk.last_id("directory_school")
    add(["a", "b", "c"])
    ids = bulk.appended_ids("directory_school", after, pa.array(["a", "b", "c"]))
    if connection.vendor != "sqlite":
        assert ids is None  # PostgreSQL's COPY makes no promise about the order: read back
        return
    assert ids.to_pylist() == [School.objects.get(sourced_id=s).pk for s in ("a", "b", "c")]
    # A row that is not ours in the range, or ids out of the expected order: no answer.
    assert bulk.appended_ids("directory_school", after - 1, pa.array(["a", "b", "c"])) is None
    assert bulk.appended_ids("directory_school", after, pa.array(["c", "b", "a"])) is None
    assert bulk.appended_ids("directory_school", after, pa.array(["a", "b"])) is None
    assert bulk.appended_ids("directory_school", None, pa.array(["a", "b", "c"])) is None


def test_select_rows_keeps_nulls_empty_text_and_the_word_null_apart(district):
    """A NULL in a text column is None — not the text "NULL" (the large lookups of a first
    sync compare accounts' emails and phones: an account without a phone must not hold one
    called "NULL") — while an empty text and the text "NULL" stay as they are."""
    from rollbook.directory.models import Account

    rows = [("A", "a@x.org", None), ("", None, "+12025550101"), ("NULL", None, None)]
    rows.append(("it's", "b@x.org", "+12025550102"))
    for given, email, phone in rows:
        Account.objects.create(given_name=given, family_name="F", email=email, phone=phone)
    schema = pa.schema(
        [
            ("given_name", pa.string()),
            ("email", pa.string()),
            ("phone", pa.string()),
            ("id", pa.int64()),
        ]
    )
    columns = ["given_name", "email", "phone", "id"]
    read = bulk.select_rows("directory_account", columns, "family_name = %s", ["F"], schema)
    read = read.sort_by("id")  # in the order made
    assert [r[:3] for r in zip(*read.to_pydict().values(), strict=True)] == rows
