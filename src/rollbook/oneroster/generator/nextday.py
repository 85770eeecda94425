"""Deriving the next day's bundle from a generated one (bulk, or delta files).

Operates on pyarrow tables read from the previous bundle; Python loops only over the changed
records (a share ``changes`` of them). Relies on the generator's id prefixes (``stu-``,
``gdn-``, ``stf-``), so it is meant for bundles written by :func:`generate_bundle`.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from rich.table import Table

from . import contacts, layout, names, write
from .arrays import INT, Rng, arange, id_numbers, join_list
from .bundle import enrollment_rows, roles_table, users_table
from .people import (
    CANONICAL,
    FAMILY,
    _canonical,
    _guardian_attrs,
    _student_arrays,
    demographics,
    render_guardians,
)
from .relations import distinct_orgs, lookup, patch, shifted, split_list
from .schools import GRADE_CODES

DEFAULT_AS_OF = "2027-01-15T06:00:00.000Z"
_S = pa.string()


@dataclass
class NextDaySummary:
    """What changed between a bundle and its derived next day."""

    prev: str
    out: str
    version: str
    changes: float
    seed: int
    delta: bool
    students_left: int = 0
    students_arrived: int = 0
    students_renamed: int = 0
    students_moved: int = 0
    guardians_added: int = 0
    guardians_removed: int = 0
    guardians_modified: int = 0
    enrollment_swaps: int = 0
    changed_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    change_share: float = 0.0
    seconds: float = 0.0

    def table(self) -> Table:
        """A Rich table of the changes."""
        t = Table(title=f"next day of {self.prev} → {self.out}")
        t.add_column("file")
        for c in ("added", "removed", "modified"):
            t.add_column(c, justify="right")
        for name, d in self.changed_rows.items():
            t.add_row(name, *(f"{d[c]:,}" for c in ("added", "removed", "modified")))
        t.caption = f"changed share {self.change_share:.4f} (asked {self.changes})"
        return t


def read_bundle(src: Path) -> tuple[str, dict[str, pa.Table]]:
    """Read a bundle folder or zip as all-string tables; return ``(version, tables)``."""
    src = Path(src)
    opener = _zip_opener(src) if src.suffix == ".zip" else _dir_opener(src)
    with opener("manifest.csv") as fh:
        manifest = dict(
            line.split(",", 1) for line in fh.read().decode("utf-8-sig").splitlines()[1:]
        )
    version = manifest["oneroster.version"].strip()
    tables = {}
    for name in layout.data_files(version):
        if manifest.get(f"file.{name}", "absent").strip() == "absent":
            continue
        with opener(f"{name}.csv") as fh:
            data = fh.read()
        header = data.split(b"\n", 1)[0].decode("utf-8-sig").strip().replace('"', "").split(",")
        tables[name] = pacsv.read_csv(
            pa.py_buffer(data),
            convert_options=pacsv.ConvertOptions(
                column_types={h: _S for h in header}, strings_can_be_null=True
            ),
        ).combine_chunks()
    return version, tables


def _dir_opener(path: Path) -> Callable[[str], BinaryIO]:
    return lambda name: (path / name).open("rb")


def _zip_opener(path: Path) -> Callable[[str], BinaryIO]:
    zf = zipfile.ZipFile(path)
    return lambda name: zf.open(name)


def _sel(table: pa.Table, mask: pa.Array) -> pa.Table:
    return table.filter(mask)


def _set(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _starts(col: pa.Array, prefix: str) -> pa.Array:
    return pc.starts_with(col, prefix)


def _unused_phone_slots(rng: Rng, used_phones: pa.Array, k: int) -> pa.Array:
    """``k`` phone slots whose numbers are not among ``used_phones``."""
    used = pc.utf8_slice_codeunits(pc.replace_substring_regex(used_phones, r"\D", ""), -10)
    out: list[int] = []
    while len(out) < k:
        cand = rng.integers(2 * k + 16, names.PHONE_SLOTS)
        digits = pc.replace_substring_regex(
            contacts.phone(cand, pa.repeat(pa.scalar(4, INT), len(cand))), r"\D", ""
        )
        fresh = pc.invert(pc.is_in(pc.utf8_slice_codeunits(digits, -10), value_set=used))
        seen = set(out)
        for s in pc.filter(cand, fresh).to_pylist():
            if s not in seen:
                out.append(s)
                seen.add(s)
    return pa.array(out[:k], INT)


def derive_next_day(
    prev: Path,
    out: Path,
    changes: float,
    seed: int = 2,
    delta: bool = False,
    zip: bool = False,
    as_of: str = DEFAULT_AS_OF,
) -> NextDaySummary:
    """Derive the next day's bundle from bundle ``prev`` (a folder or ``.zip``) into ``out``.

    About ``changes`` of the records change: students leave (and guardians left without a
    child), students arrive with new families, students are renamed or move school or grade,
    guardians' phones, e-mails or names change, class sections are swapped.

    Args:
        prev: a bundle written by :func:`generate_bundle` (or by this function).
        out: the new bundle folder.
        changes: share of records to change, e.g. ``0.01``.
        seed: the same seed and input give byte-identical output.
        delta: write only the changes, as delta files (status/dateLastModified filled).
        zip: also write ``OUT.zip``.
        as_of: ``dateLastModified`` of delta rows.

    Returns:
        The summary of the changes (also written to ``OUT.summary.json``).
    """
    started = time.perf_counter()
    version, old = read_bundle(prev)
    rng = Rng(seed, "next-day")
    s = NextDaySummary(
        prev=str(prev), out=str(out), version=version, changes=changes, seed=seed, delta=delta
    )
    users = old["users"]
    enr = old["enrollments"]
    roles = old.get("roles")
    demo = old["demographics"]
    org_col = "orgSourcedIds" if version == "1.1" else "primaryOrgSourcedId"
    uid = users["sourcedId"].combine_chunks()
    is_stu = _starts(uid, "stu-")
    stu_rows = pc.indices_nonzero(is_stu).to_pylist()
    n_stu = len(stu_rows)
    r = rng.py

    # --- students leaving, arriving (cloned schedules), moving school or grade
    n_leave = round(n_stu * changes * 0.3)
    n_arrive = round(n_stu * changes * 0.3)
    n_move = round(n_stu * changes * 0.15)
    n_rename = round(n_stu * changes * 0.25)
    picked = r.sample(stu_rows, min(n_stu, n_leave + n_arrive + n_move + n_rename))
    leavers = picked[:n_leave]
    templates = picked[n_leave : n_leave + n_arrive]
    movers = picked[n_leave + n_arrive : n_leave + n_arrive + n_move]
    renamed = picked[n_leave + n_arrive + n_move :]
    grades_all = users["grades"].to_pylist()
    school_all = users[org_col].to_pylist()
    by_grade: dict[str, list[int]] = {}
    for i in stu_rows:
        by_grade.setdefault(grades_all[i], []).append(i)
    move_templates = []
    for i in movers:
        g = grades_all[i]
        if r.random() < 0.2:  # grade correction: one grade up or down
            k = GRADE_CODES.index(g) + r.choice((-1, 1))
            g = GRADE_CODES[min(max(k, 0), 12)]
        pool = by_grade.get(g) or by_grade[grades_all[i]]
        t = r.choice(pool)
        for _ in range(5):
            if school_all[t] != school_all[i]:
                break
            t = r.choice(pool)
        move_templates.append(t)
    leaver_ids = uid.take(pa.array(leavers, INT))
    mover_ids = uid.take(pa.array(movers, INT))

    # student rows: renames and moves in place
    fam_col = users["familyName"].take(pa.array(renamed, INT)).to_pylist()
    new_names = []
    for old_name in fam_col:
        other = FAMILY[r.randrange(len(FAMILY))].as_py()
        new_names.append(f"{old_name}-{other}" if "-" not in old_name else other)
    users = _set(users, "familyName", patch(users["familyName"], renamed, new_names))
    s.students_renamed = len(renamed)
    for col in ("grades", org_col):
        users = _set(
            users,
            col,
            patch(users[col], movers, users[col].take(pa.array(move_templates, INT)).to_pylist()),
        )
    s.students_moved = len(movers)

    # enrollments: drop leavers' and movers', clone templates' for movers and arrivals
    gone = pa.concat_arrays([leaver_ids, mover_ids])
    stu_enr = _starts(enr["userSourcedId"], "stu-")
    keep = pc.invert(pc.is_in(enr["userSourcedId"], value_set=gone))
    enr_kept = _sel(enr, keep)

    # --- arrivals: new students with new families
    max_stu = pc.max(id_numbers(pc.filter(uid, is_stu), 4)).as_py()
    max_gdn = pc.max(id_numbers(pc.filter(uid, _starts(uid, "gdn-")), 4)).as_py() or 0
    school_year = int(old["academicSessions"]["schoolYear"][0].as_py())
    arr_users, arr_demo, arr_map, arr_canon = _arrivals(
        rng.child("arrivals"), users, templates, max_stu, max_gdn, version, org_col, school_year
    )
    s.students_arrived = len(templates)
    s.guardians_added = arr_users.num_rows - len(templates)
    clone_from = pa.concat_arrays(
        [uid.take(pa.array(move_templates, INT)), arr_map[0].combine_chunks()]
    )
    clone_to = pa.concat_arrays([mover_ids, arr_map[1]])
    src = _sel(enr, pc.and_(stu_enr, pc.is_in(enr["userSourcedId"], value_set=clone_from)))
    # a template may serve several movers/arrivals: expand per (template, target) pair
    pairs = pa.table({"t": clone_from, "to": clone_to})
    joined = src.join(pairs, "userSourcedId", "t", use_threads=False)
    joined = joined.sort_by([("to", "ascending"), ("classSourcedId", "ascending")])
    cloned = enrollment_rows(
        joined["classSourcedId"].combine_chunks(),
        joined["schoolSourcedId"].combine_chunks(),
        joined["to"].combine_chunks(),
        "student",
        None,
    )

    # --- class-section swaps (drop/add within the same course)
    enr_kept, s.enrollment_swaps = _swaps(rng.child("swaps"), enr_kept, old["classes"], changes)
    enr_new = pa.concat_tables([enr_kept, write.conform(cloned, enr_kept.column_names)])

    # --- users: drop leavers, add arrivals, refresh guardian links and orgs
    users = _sel(users, pc.invert(pc.is_in(users["sourcedId"], value_set=leaver_ids)))
    users = pa.concat_tables([users, write.conform(arr_users, users.column_names)])
    users, removed_gdn, gorgs = _refresh_guardians(users, leaver_ids, org_col)
    s.guardians_removed = len(removed_gdn)
    users, s.guardians_modified = _modify_guardians(rng.child("guardians"), users, changes)
    s.students_left = len(leavers)

    dropped = pa.concat_arrays([leaver_ids, removed_gdn])
    demo = pa.concat_tables(
        [
            _sel(demo, pc.invert(pc.is_in(demo["sourcedId"], value_set=leaver_ids))),
            write.conform(arr_demo, demo.column_names),
        ]
    )
    new = dict(old)
    new["users"], new["enrollments"], new["demographics"] = users, enr_new, demo
    if roles is not None:
        new["roles"] = _roles_next(roles, users, dropped, mover_ids, arr_canon, gorgs)
    _write(new, old, out, version, s, delta, as_of, zip)
    s.seconds = round(time.perf_counter() - started, 2)
    write.summary_path(Path(out)).write_text(json.dumps(asdict(s), indent=2), encoding="utf-8")
    return s


class _Year:
    def __init__(self, school_year: int) -> None:
        self.school_year = school_year


def _arrivals(
    rng: Rng,
    users: pa.Table,
    templates: list[int],
    max_stu: int,
    max_gdn: int,
    version: str,
    org_col: str,
    school_year: int,
) -> tuple[pa.Table, pa.Table, tuple[pa.Array, pa.Array], pa.Table]:
    """New students (each with a new family) placed like ``templates``."""
    n = len(templates)
    t = pa.array(templates, INT)
    school = users[org_col].take(t)
    grade_codes = users["grades"].take(t)
    grade = pc.cast(pc.index_in(grade_codes, value_set=pa.array(GRADE_CODES)), INT)
    number = arange(n, max_stu + 1)
    st = _student_arrays(
        _Year(school_year),
        rng,
        version,
        school,
        grade,
        number,  # type: ignore[arg-type]
        arange(n),
        None,
    )
    surname1, surname2 = rng.integers(n, len(FAMILY)), rng.integers(n, len(FAMILY))
    fam = {"sizes": pa.repeat(pa.scalar(1, INT), n)}
    ga, n_g = _guardian_attrs(rng, fam, surname1, surname2)
    g = len(ga)
    gnum = pc.add(ga["number"], max_gdn)
    ga = ga.set_column(ga.schema.get_field_index("number"), "number", gnum)
    ga = ga.set_column(ga.schema.get_field_index("email_key"), "email_key", gnum)
    used = pc.drop_null(pc.coalesce(users["phone"], users["sms"]))
    ga = ga.set_column(
        ga.schema.get_field_index("phone_slot"), "phone_slot", _unused_phone_slots(rng, used, g)
    )
    gr = render_guardians(ga)
    stu_ids = pc.binary_join_element_wise("stu-", pc.utf8_lpad(pc.cast(number, _S), 7, "0"), "")
    ident = st["identifier"]
    students = _canonical(
        n,
        {
            "sourcedId": stu_ids,
            "enabledUser": "true",
            "role": "student",
            "orgs": school,
            "username": pc.binary_join_element_wise("s", ident, ""),
            "userIds": pc.binary_join_element_wise("{SIS:", ident, "}", ""),
            "givenName": st["given"],
            "familyName": pc.take(FAMILY, surname1),
            "middleName": st["middle"],
            "identifier": ident,
            "email": pc.if_else(
                pc.greater_equal(grade, 6),
                pc.binary_join_element_wise("s", ident, "@" + names.STUDENT_DOMAIN, ""),
                pa.scalar(None, _S),
            ),
            "agentSourcedIds": join_list(gr["sourcedId"], n_g),
            "grades": grade_codes,
            "userMasterIdentifier": st["ssid"],
            "preferredGivenName": st["preferred"],
        },
    )
    guardians = _canonical(
        g,
        {
            "sourcedId": gr["sourcedId"],
            "enabledUser": "true",
            "role": gr["role"],
            "orgs": pc.take(school, ga["fam"]),
            "username": gr["username"],
            "givenName": gr["givenName"],
            "familyName": gr["familyName"],
            "email": gr["email"],
            "sms": gr["sms"],
            "phone": gr["phone"],
        },
    )
    canonical = pa.concat_tables([students, guardians]).select(CANONICAL)
    demo = demographics(rng.child("demographics"), stu_ids, st["birth"], st["sex"])
    return (users_table(canonical, version), demo, (users["sourcedId"].take(t), stu_ids), canonical)


def _counts_for(n: int, parent: pa.Array) -> pa.Array:
    """Occurrences of each of ``0..n-1`` in sorted ``parent``."""
    if len(parent) == 0:
        return pa.repeat(pa.scalar(0, INT), n)
    runs = pc.run_end_encode(parent)
    ends = pc.cast(runs.run_ends, INT)
    lengths = pc.subtract(ends, shifted(ends).fill_null(0))
    return pc.fill_null(lookup(arange(n), pc.cast(runs.values, INT), lengths), 0)


def drop_from_lists(values: pa.Array, drop: pa.Array) -> pa.Array:
    """Remove the ids in ``drop`` from comma-list strings (empty lists become null)."""
    parent, elem = split_list(values)
    keep = pc.invert(pc.is_in(elem, value_set=drop))
    parent, elem = pc.filter(parent, keep), pc.filter(elem, keep)
    return join_list(elem, _counts_for(len(values), parent))


def _refresh_guardians(
    users: pa.Table, leaver_ids: pa.Array, org_col: str
) -> tuple[pa.Table, pa.Array, pa.Table]:
    """Drop guardians no student links to any more; recompute guardians' links and orgs."""
    uid = users["sourcedId"].combine_chunks()
    is_gdn = _starts(uid, "gdn-")
    is_stu = _starts(uid, "stu-")
    agents = users["agentSourcedIds"].combine_chunks()
    users = _set(
        users, "agentSourcedIds", pc.if_else(is_gdn, drop_from_lists(agents, leaver_ids), agents)
    )
    stu = _sel(users, is_stu)
    parent, gid = split_list(stu["agentSourcedIds"])
    school = pc.take(stu[org_col].combine_chunks(), parent)
    linked = pc.unique(gid)
    orphan = pc.and_(is_gdn, pc.invert(pc.is_in(uid, value_set=linked)))
    removed = pc.filter(uid, orphan)
    users = _sel(users, pc.invert(orphan))
    gorgs = distinct_orgs(gid, school)
    uid = users["sourcedId"].combine_chunks()
    is_gdn = _starts(uid, "gdn-")
    col = gorgs["orgs"] if org_col == "orgSourcedIds" else gorgs["primaryOrg"]
    fresh = lookup(uid, gorgs["user"], col.combine_chunks())
    users = _set(users, org_col, pc.if_else(is_gdn, fresh, users[org_col].combine_chunks()))
    return users, removed, gorgs


def _modify_guardians(rng: Rng, users: pa.Table, changes: float) -> tuple[pa.Table, int]:
    """Change the phone, e-mail or family name of a share of guardians."""
    r = rng.py
    gdn = pc.indices_nonzero(_starts(users["sourcedId"], "gdn-")).to_pylist()
    rows = sorted(r.sample(gdn, min(len(gdn), round(len(gdn) * changes * 0.6))))
    t = users.take(pa.array(rows, INT)).to_pydict()
    used = pc.drop_null(pc.coalesce(users["phone"], users["sms"]))
    fresh = _unused_phone_slots(rng, used, len(rows))
    new_phone = contacts.phone(fresh, pa.repeat(pa.scalar(0, INT), len(rows))).to_pylist()
    new_sms = contacts.phone(fresh, pa.repeat(pa.scalar(4, INT), len(rows))).to_pylist()
    edits: dict[str, tuple[list[int], list]] = {
        c: ([], []) for c in ("phone", "sms", "email", "familyName")
    }

    def put(col: str, row: int, value: object) -> None:
        edits[col][0].append(row)
        edits[col][1].append(value)

    for j, row in enumerate(rows):
        kind = r.choices(("phone", "email", "name"), (50, 35, 15))[0]
        if kind == "phone" and t["phone"][j]:
            put("phone", row, new_phone[j])
            if t["sms"][j]:
                put("sms", row, new_sms[j])
        elif kind == "email" and t["email"][j]:
            local, _, domain = t["email"][j].partition("@")
            others = [d for d in names.GUARDIAN_DOMAINS if d != domain.lower()]
            put("email", row, f"{local}@{r.choice(others)}")
        else:
            put("familyName", row, FAMILY[r.randrange(len(FAMILY))].as_py())
    for col, (idx, vals) in edits.items():
        users = _set(users, col, patch(users[col].combine_chunks(), idx, vals))
    return users, len(rows)


def _swaps(rng: Rng, enr: pa.Table, classes: pa.Table, changes: float) -> tuple[pa.Table, int]:
    """Move a share of secondary students' enrollments to another section of the same course."""
    r = rng.py
    scheduled = _sel(classes, pc.equal(classes["classType"], "scheduled"))
    course_of = dict(
        zip(
            scheduled["sourcedId"].to_pylist(),
            scheduled["courseSourcedId"].to_pylist(),
            strict=True,
        )
    )
    sections: dict[str, list[str]] = {}
    for cls, crs in course_of.items():
        sections.setdefault(crs, []).append(cls)
    n = enr.num_rows
    want = round(n * changes * 0.3)
    if not want or not n:
        return enr, 0
    rows = sorted(r.sample(range(n), min(n, 3 * want)))
    sub = enr.take(pa.array(rows, INT)).to_pydict()
    chosen, new_cls, new_ids = [], [], []
    for j, row in enumerate(rows):
        cls, user = sub["classSourcedId"][j], sub["userSourcedId"][j]
        if sub["role"][j] != "student" or cls not in course_of:
            continue
        others = [c for c in sections[course_of[cls]] if c != cls]
        if not others:
            continue
        c = r.choice(others)
        chosen.append(row)
        new_cls.append(c)
        new_ids.append(f"enr-{c[4:]}-{user}")
        if len(chosen) == want:
            break
    clash = pc.is_in(pa.array(new_ids, _S), value_set=enr["sourcedId"]).to_pylist()
    keep = [i for i, x in enumerate(clash) if not x]
    chosen = [chosen[i] for i in keep]
    enr = _set(
        enr,
        "classSourcedId",
        patch(enr["classSourcedId"].combine_chunks(), chosen, [new_cls[i] for i in keep]),
    )
    enr = _set(
        enr,
        "sourcedId",
        patch(enr["sourcedId"].combine_chunks(), chosen, [new_ids[i] for i in keep]),
    )
    return enr, len(chosen)


def _roles_next(
    roles: pa.Table,
    users: pa.Table,
    dropped: pa.Array,
    mover_ids: pa.Array,
    arrivals: pa.Table,
    gorgs: pa.Table,
) -> pa.Table:
    """roles.csv of the next day: guardians', movers' and arrivals' rows regenerated."""
    ur = roles["userSourcedId"].combine_chunks()
    regen = pc.or_(
        pc.or_(pc.is_in(ur, value_set=dropped), _starts(ur, "gdn-")),
        pc.is_in(ur, value_set=mover_ids),
    )
    kept = _sel(roles, pc.invert(regen))
    role_user = pa.concat_arrays([ur, arrivals["sourcedId"].combine_chunks()])
    role_val = pa.concat_arrays([roles["role"].combine_chunks(), arrivals["role"].combine_chunks()])
    gids = gorgs["user"].combine_chunks()
    guardians = pa.table(
        {
            "sourcedId": gids,
            "role": lookup(gids, role_user, role_val),
            "orgs": gorgs["orgs"].combine_chunks(),
        }
    )
    movers = _sel(users, pc.is_in(users["sourcedId"], value_set=mover_ids))
    movers = pa.table(
        {
            "sourcedId": movers["sourcedId"].combine_chunks(),
            "role": pa.repeat(pa.scalar("student"), movers.num_rows),
            "orgs": movers["primaryOrgSourcedId"].combine_chunks(),
        }
    )
    arr = _sel(arrivals, _starts(arrivals["sourcedId"], "stu-")).select(
        ["sourcedId", "role", "orgs"]
    )
    regenerated = roles_table(pa.concat_tables([movers, arr, guardians]))
    return pa.concat_tables([kept, write.conform(regenerated, kept.column_names)])


def _diff(old: pa.Table, new: pa.Table) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Masks: added (over new), modified (over new), removed (over old)."""
    old_ids, new_ids = old["sourcedId"].combine_chunks(), new["sourcedId"].combine_chunks()
    idx = pc.index_in(new_ids, value_set=old_ids)
    added = pc.is_null(idx)
    changed = pa.repeat(pa.scalar(False), len(new_ids))
    for name in new.column_names[1:]:  # column by column: no row-wide copies in memory
        a, b = new[name].combine_chunks(), pc.take(old[name].combine_chunks(), idx)
        differs = pc.if_else(
            pc.is_null(a), pc.is_valid(b), pc.if_else(pc.is_null(b), True, pc.not_equal(a, b))
        )
        changed = pc.or_(changed, pc.fill_null(differs, False))
    same = pc.invert(changed)
    modified = pc.and_(pc.invert(added), pc.invert(pc.fill_null(same, False)))
    removed = pc.invert(pc.is_in(old_ids, value_set=new_ids))
    return added, pc.fill_null(modified, False), removed


def _write(
    new: dict[str, pa.Table],
    old: dict[str, pa.Table],
    out: Path,
    version: str,
    s: NextDaySummary,
    delta: bool,
    as_of: str,
    zip: bool,
) -> None:
    out = Path(out)
    write.prepare_dir(out)
    modes: dict[str, str] = {}
    total_old = total_changed = 0
    for name in layout.data_files(version):
        if name not in new:
            continue
        cols = layout.columns(version, name)
        nt, ot = write.conform(new[name], cols), write.conform(old[name], cols)
        added, modified, removed = _diff(ot, nt)
        counts = {
            k: pc.sum(pc.cast(m, INT)).as_py() or 0
            for k, m in (("added", added), ("modified", modified), ("removed", removed))
        }
        s.changed_rows[name] = counts
        total_old += ot.num_rows
        total_changed += sum(counts.values())
        if not delta:
            write.write_csv(out / f"{name}.csv", nt, cols)
            modes[name] = "bulk"
            continue
        if not sum(counts.values()):
            continue
        live = _sel(nt, pc.or_(added, modified))
        dead = _sel(ot, removed)
        live = _set(live, "status", pa.repeat(pa.scalar("active"), live.num_rows))
        dead = _set(dead, "status", pa.repeat(pa.scalar("tobedeleted"), dead.num_rows))
        rows = pa.concat_tables([live, dead])
        rows = _set(rows, "dateLastModified", pa.repeat(pa.scalar(as_of), rows.num_rows))
        write.write_csv(out / f"{name}.csv", rows, cols)
        modes[name] = "delta"
    write.write_manifest(out / "manifest.csv", version, modes)
    s.change_share = round(total_changed / max(total_old, 1), 6)
    if zip:
        write.zip_bundle(out)
