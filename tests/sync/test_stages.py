"""The pipeline's stages alone, on Arrow tables, with no database (issue 15): the plan's diff
and identity resolution are functions of tables; a plan of the shared samples is pinned by
golden files of its counts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

from rollbook.oneroster import read_bundle
from rollbook.sync import identity as people
from rollbook.sync import resolution
from rollbook.sync.plan import STATE_SCHEMA, plan_entities
from rollbook.sync.read import ENTITIES, read_incoming
from rollbook.sync.unread import drop_unread

from ..conftest import SAMPLES
from .bundles import Bundle

GOLDEN = Path(__file__).parent / "golden"


def incoming_of(bundle: Bundle, folder: Path):
    return read_incoming(read_bundle(bundle.write(folder)), "", None, set())


def state_as_synced(incoming, changed: dict[str, int] | None = None) -> dict[str, pa.Table]:
    """The state a first sync of ``incoming`` leaves, every record given a local id; records
    named in ``changed`` keep another fingerprint (as if the SIS changed them since)."""
    states = {}
    for entity in ENTITIES:
        table = incoming.tables[entity]
        fingerprints = table["fingerprint"].to_pylist()
        sids = table["sourced_id"].to_pylist()
        for i, sid in enumerate(sids):
            if changed and sid in changed:
                fingerprints[i] = changed[sid]
        states[entity] = pa.table(
            {
                "sourced_id": pa.array(sids, pa.string()),
                "state_fingerprint": pa.array(fingerprints, pa.int64()),
                "local_id": pa.array(range(1, len(sids) + 1), pa.int64()),
                "active": pa.array([True] * len(sids)),
                "withheld": pa.array([False] * len(sids)),
            },
            schema=STATE_SCHEMA,
        )
    return states


def empty_states() -> dict[str, pa.Table]:
    return {entity: STATE_SCHEMA.empty_table() for entity in ENTITIES}


def family() -> Bundle:
    b = Bundle()
    b.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "(202) 555-0101")
    # Each with its demographics row: a student sent without one keeps the birth date the
    # directory holds, which the plan would read from there (resolve.py).
    b.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",), birthDate="2016-04-02")
    b.student("stu-2", "Leo", "Lopez", guardians=("gdn-1",), birthDate="2018-09-30")
    return b


def test_a_first_plan_creates_everything_and_a_second_changes_nothing(tmp_path):
    incoming = incoming_of(family(), tmp_path / "a")
    first = plan_entities(incoming, empty_states())
    assert first["student"].counts()["created"] == 2
    assert first["guardian_link"].counts()["created"] == 2
    again = plan_entities(incoming_of(family(), tmp_path / "b"), state_as_synced(incoming))
    for entity, plan in again.items():
        counts = plan.counts()
        assert counts["created"] == counts["updated"] == counts["archived"] == 0, entity


def test_a_changed_record_is_updated_and_a_missing_one_archived(tmp_path):
    before = incoming_of(family(), tmp_path / "a")
    states = state_as_synced(before, changed={"stu-1": 12345})
    after = Bundle()
    after.guardian("gdn-1", "Ana", "Lopez", "ana@example.com", "(202) 555-0101")
    after.student("stu-1", "Mia", "Lopez", guardians=("gdn-1",), birthDate="2016-04-02")
    # stu-2 left the district
    plan = plan_entities(incoming_of(after, tmp_path / "b"), states)
    assert plan["student"].update["sourced_id"].to_pylist() == ["stu-1"]
    assert plan["student"].archive["sourced_id"].to_pylist() == ["stu-2"]
    assert plan["student"].archive["local_id"].to_pylist() == [2]  # the state's own id


class Directory:
    """The accounts a lookup finds: a function of its input, as the sync's lookup is."""

    def __init__(self, *accounts: people.KnownAccount):
        self.accounts = accounts

    def __call__(self, emails: pa.Array, phones: pa.Array):
        emails, phones = set(emails.to_pylist()), set(phones.to_pylist())
        return [a for a in self.accounts if a.email in emails or a.phone in phones]


def resolved(bundle: Bundle, folder: Path, lookup) -> people.Identity:
    incoming = incoming_of(bundle, folder)
    identity = people.Identity()
    changed = people.people_from(incoming.tables["person"], "US", identity)
    return resolution.resolve(changed, {}, set(), lookup, identity)


def test_identity_reuses_an_exact_match_and_withholds_what_another_person_holds(tmp_path):
    b = family()
    b.guardian("gdn-2", "Pat", "Parent", "pat@example.org", "")
    b.student("stu-3", "Ivy", "Parent", guardians=("gdn-2",), birthDate="2017-01-15")
    same = people.KnownAccount(7, "Ana", "Lopez", "ana@example.com", "+12025550101")
    other = people.KnownAccount(8, "Patricia", "Parent", "pat@example.org", None)
    identity = resolved(b, tmp_path / "a", Directory(same, other))
    resolved_to = identity.tables()["person_account"].to_pylist()
    account_of = {r["sourced_id"]: r["account"] for r in resolved_to}
    assert account_of["gdn-1"] == 7  # one person, one account
    assert account_of["gdn-2"] != 8  # a near match is never merged
    assert {c["code"] for c in identity.conflicts} == {"SYNC-EMAIL-TAKEN"}
    assert "gdn-2" in identity.withheld_people
    new = {row["ref"]: row for row in identity.tables()["new_accounts"].to_pylist()}
    assert new[account_of["gdn-2"]]["email"] is None  # made without the email another holds


def test_identity_never_re_describes_an_account_of_another_district(tmp_path):
    foreign = people.KnownAccount(9, "Ana", "Lopes", "ana@example.com", None, True)
    identity = resolved(family(), tmp_path / "a", Directory(foreign))
    assert not identity.account_updates
    assert 9 not in identity.tables()["person_account"]["account"].to_pylist()


# --- what the sync does not read ----------------------------------------------------------


def _records(folder: Path, drop: bool, schools=None):
    result = read_bundle(folder)
    if drop:
        drop_unread(result)
    incoming = read_incoming(result, "", schools, set())
    return incoming, result


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_records_are_the_same_without_the_columns_the_sync_does_not_read(tmp_path, version):
    """``drop_unread`` frees what the sync never reads (at 1M students ~0.26 GB of the
    reader's model, held beside the records otherwise): the records made after it are the
    ones made without it, table for table — for a whole bundle and for a source limited to
    some of its schools (which counts what it leaves out), on the generator's bundle and on
    every shared sample."""
    from rollbook.oneroster.generator import generate_bundle

    generate_bundle(tmp_path / "b", students=300, version=version, seed=3)
    folders = [tmp_path / "b"] + [f for f in sample_bundles() if read_bundle(f).can_sync]
    for folder in folders:
        whole, _ = _records(folder, drop=False)
        schools = set(whole.tables["school"]["sourced_id"].to_pylist()[:2]) or None
        for chosen in (None, schools):
            kept, _ = _records(folder, drop=False, schools=chosen)
            narrowed, _ = _records(folder, drop=True, schools=chosen)
            for entity in ENTITIES:
                assert narrowed.tables[entity].equals(kept.tables[entity]), (folder, entity)
            assert narrowed.skipped == kept.skipped
            assert (narrowed.deferred is None) == (kept.deferred is None)
    # Something was dropped: the generator's users carry columns the sync does not read.
    result = read_bundle(tmp_path / "b")
    before = result.model.users.num_columns
    drop_unread(result)
    assert result.model.users.num_columns < before


def test_nothing_is_dropped_when_people_are_a_delta(tmp_path):
    """A delta of users (or 1.2 roles) is settled against earlier deliveries with the roles'
    types, agents and the links' declarers (delta.py): they stay."""
    from rollbook.oneroster.generator import generate_bundle

    generate_bundle(tmp_path / "b", students=50, seed=3)
    result = read_bundle(tmp_path / "b")
    result.model.modes["users"] = "delta"
    columns = {name: t.column_names for name, t in result.model.tables.items()}
    drop_unread(result)
    assert {name: t.column_names for name, t in result.model.tables.items()} == columns
    assert result.model.tables["roles"].num_rows
    assert "declared_by" in result.model.guardian_links.column_names

    result = read_bundle(tmp_path / "b")
    drop_unread(result)
    assert not result.model.tables["roles"].num_rows
    assert "declared_by" not in result.model.guardian_links.column_names
    assert "agent_sourced_ids" not in result.model.users.column_names


# --- golden plans of the shared samples -------------------------------------------------------


def sample_bundles() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    found = []
    for manifest in sorted(SAMPLES.rglob("manifest.csv")):
        if (manifest.parent / "users.csv").exists():
            found.append(manifest.parent)
    return found


def golden_name(folder: Path) -> str:
    return "__".join(folder.relative_to(SAMPLES).parts) + ".json"


@pytest.mark.parametrize("folder", sample_bundles() or [None], ids=lambda f: f and f.name)
def test_the_first_plan_of_each_shared_sample_is_as_pinned(folder):
    """What a first sync of each shared third-party sample would do, entity by entity, and
    who its people are: pinned, so that a change of the reader or the plan that alters it is
    seen and explained. ROLLBOOK_UPDATE_GOLDEN=1 rewrites the files (then review the diff)."""
    if folder is None:
        pytest.skip("shared OneRoster samples not present (set ROLLBOOK_SAMPLES)")
    result = read_bundle(folder)
    if not result.can_sync:
        pytest.skip("this sample has errors the sync does not go past (test_samples.py)")
    incoming = read_incoming(result, "", None, set())
    plan = plan_entities(incoming, empty_states())
    identity = people.Identity()
    changed = people.people_from(incoming.tables["person"], "US", identity)
    resolution.resolve(changed, {}, set(), Directory(), identity)
    got = {
        "version": incoming.version,
        "counts": {entity: plan[entity].counts() for entity in ENTITIES},
        "accounts_created": identity.tables()["new_accounts"].num_rows,
        "conflicts": sorted(c["code"] for c in identity.conflicts),
    }
    path = GOLDEN / golden_name(folder)
    if os.environ.get("ROLLBOOK_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert path.exists(), "no golden plan for this sample: run with ROLLBOOK_UPDATE_GOLDEN=1"
    assert got == json.loads(path.read_text())


def test_people_normalised_already_are_taken_as_they_are(tmp_path):
    """The self-check's normalisation of the delivered people (identity.Normalised) gives the
    plan the very records it would have made itself, or nothing when it lacks one of them."""
    b = family()
    b.guardian("gdn-2", "  José ", "Parent", "pat@example.org", "12")
    b.student("stu-3", "Ivy", "Parent", guardians=("gdn-2",), birthDate="2017-01-15")
    incoming = incoming_of(b, tmp_path / "a")
    persons = incoming.tables["person"]
    norm = people.normalised(persons, "US")
    done = people.Normalised(
        "US", pa.table({"sourced_id": persons["sourced_id"], **norm}).sort_by("sourced_id")
    )

    def made(given: people.Normalised | None):
        identity = people.Identity()
        return people.people_from(persons, "US", identity, given), identity.conflicts

    assert done.rows(persons, "US") is not None
    assert made(done) == made(None)
    assert {c["code"] for c in made(done)[1]} == {"SYNC-PHONE-UNUSABLE"}
    assert done.rows(persons, "CA") is None  # another region: normalised again
    assert done.rows(persons.append_column("x", persons["sourced_id"]).slice(0, 1), "US")
    missing = people.Normalised("US", done.table.slice(1))
    assert missing.rows(persons, "US") is None


def test_a_guardians_relationship_is_their_first_guardian_role_by_line():
    """Per row of users.csv: the first guardian role by line of the file, words outside
    OneRoster's three read as "guardian", "parent" for a user with no guardian role; a role of
    a user not in users.csv (row null) is no one's."""
    from rollbook.sync.read import _relationships

    roles = pa.table(
        {
            "user_sourced_id": ["b", "b", "a", "x", "c"],
            "role": ["guardian", "parent", "relative", "guardian", "aunt"],
            "line": [9, 3, 5, 1, 7],
        }
    )
    rows = pa.chunked_array([pa.array([1, 1], pa.int32()), pa.array([0, None, 2], pa.int32())])
    got = _relationships(roles, rows, 4)
    assert got.to_pylist() == ["relative", "parent", "guardian", "parent"]
    none = _relationships(roles.slice(0, 0), pa.chunked_array([], pa.int32()), 2)
    assert none.to_pylist() == ["parent", "parent"]
