"""People: students, their families and guardians, staff — and the planted multi-role people.

Everything per row is vectorised over pyarrow arrays; Python loops only touch the few thousand
planted people. The output is a version-neutral "canonical" user table per kind (see
:data:`CANONICAL`), which :mod:`.bundle` lays out as OneRoster 1.1 or 1.2 rows.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from . import contacts, names
from .arrays import (
    INT,
    Rng,
    arange,
    fmt_ids,
    join_list,
    mod,
    offsets_of,
    rank_in_group,
    repeat_index,
)
from .schools import DISTRICT_ID, GRADE_CODES, Plan

CANONICAL = [
    "sourcedId",
    "enabledUser",
    "role",
    "orgs",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "userMasterIdentifier",
    "preferredGivenName",
]
GUARDIAN_ROLES = ("parent", "guardian", "relative")
KIDS_WEIGHTS = (52, 32, 12, 4)  # families of 1..4 children in the district
GUARDIAN_WEIGHTS = (10, 45, 30, 15)  # 1..4 guardians per family → ≈1.5 per student
CONTACT_WEIGHTS = (70, 12, 15, 3)  # both | e-mail only | phone only | neither
GUARDIAN_LISTS_CHILDREN = 0.3  # share of families whose guardian rows also list the children
DUPLICATE_GUARDIAN_SHARE = 0.04  # of multi-child families: a 2nd row for the same guardian
DUPLICATE_DIFFERING_SHARE = 0.4
STAFF_GUARDIAN_SHARE = 0.02
STAFF_GUARDIAN_DIFFERING_SHARE = 0.15
DIFF_KINDS = ("phone", "email_case", "email", "name_typo")

_S = pa.string()


def _names(values: list[str]) -> pa.Array:
    return pa.array(values, _S)


CHILD_F, CHILD_M = _names(names.CHILD_FEMALE), _names(names.CHILD_MALE)
ADULT_F, ADULT_M = _names(names.ADULT_FEMALE), _names(names.ADULT_MALE)
FAMILY = _names(names.FAMILY)
FOLD_ADULT_F = contacts.fold_array(names.ADULT_FEMALE)
FOLD_ADULT_M = contacts.fold_array(names.ADULT_MALE)
FOLD_FAMILY = contacts.fold_array(names.FAMILY)
NICK_F = pa.array([names.NICKNAMES.get(n) for n in names.CHILD_FEMALE], _S)
NICK_M = pa.array([names.NICKNAMES.get(n) for n in names.CHILD_MALE], _S)
DOMAINS = _names(list(names.GUARDIAN_DOMAINS))


@dataclass
class Planted:
    """What was planted for identity resolution to find (counts of people)."""

    staff_guardian_same: int = 0
    staff_guardian_differing: dict[str, int] = field(default_factory=dict)
    duplicate_guardian_same: int = 0
    duplicate_guardian_differing: dict[str, int] = field(default_factory=dict)
    staff_guardian_ids: list[tuple[str, str, str]] = field(default_factory=list)
    duplicate_guardian_ids: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class People:
    """Canonical user tables plus the facts the summary reports."""

    students: pa.Table
    guardians: pa.Table
    staff: pa.Table
    demographics: pa.Table
    families: int
    planted: Planted
    guardians_without_contact: int


def _pick(rng: Rng, female: pa.Array, f_list: pa.Array, m_list: pa.Array) -> pa.Array:
    """Index into the female or male list, per row."""
    n = len(female)
    fi, mi = rng.integers(n, len(f_list)), rng.integers(n, len(m_list))
    return pc.if_else(female, fi, mi)


def _by_sex(female: pa.Array, idx: pa.Array, f_list: pa.Array, m_list: pa.Array) -> pa.Array:
    fi = pc.min_element_wise(idx, len(f_list) - 1)
    mi = pc.min_element_wise(idx, len(m_list) - 1)
    return pc.if_else(female, pc.take(f_list, fi), pc.take(m_list, mi))


def _null_unless(mask: pa.Array, values: pa.Array) -> pa.Array:
    return pc.if_else(mask, values, pa.scalar(None, values.type))


def build_students(plan: Plan, rng: Rng, version: str, first_number: int = 1) -> dict:
    """Return per-student arrays: id, school, grade, position in group, names, demographics."""
    counts = pa.array(plan.group_count, INT)
    group = repeat_index(counts)
    n = len(group)
    school = pc.take(pa.array(plan.group_school, INT), group)
    grade = pc.take(pa.array(plan.group_grade, INT), group)
    return _student_arrays(
        plan, rng, version, school, grade, arange(n, first_number), rank_in_group(counts), group
    )


def _student_arrays(
    plan: Plan,
    rng: Rng,
    version: str,
    school: pa.Array,
    grade: pa.Array,
    number: pa.Array,
    pos: pa.Array,
    group: pa.Array | None,
) -> dict:
    n = len(school)
    female = rng.bernoulli(n, 0.5)
    gidx = _pick(rng, female, CHILD_F, CHILD_M)
    given = _by_sex(female, gidx, CHILD_F, CHILD_M)
    has_mid = rng.bernoulli(n, 0.4)
    middle = _null_unless(
        has_mid, _by_sex(female, _pick(rng, female, CHILD_F, CHILD_M), CHILD_F, CHILD_M)
    )
    nick = _by_sex(female, gidx, NICK_F, NICK_M)
    preferred = _null_unless(rng.bernoulli(n, 0.35), nick)
    sex = pc.if_else(female, "female", "male")
    if version == "1.2":
        other = rng.categorical(n, (98, 1, 1))
        sex = pc.choose(
            pc.cast(other, pa.int8()),
            sex,
            pa.repeat(pa.scalar("unspecified"), n),
            pa.repeat(pa.scalar("other"), n),
        )
    # birth dates: age 5 on 1 September for kindergarten, plus ~3% a year older (retained)
    y = plan.school_year
    epoch = dt.date(1970, 1, 1)
    base = pa.array([(dt.date(y - 7 - g, 9, 2) - epoch).days for g in range(13)], INT)
    days = pc.add(pc.take(base, grade), rng.integers(n, 365))
    days = pc.subtract(days, pc.multiply(pc.cast(rng.bernoulli(n, 0.03), INT), 365))
    birth = pc.cast(pc.cast(pc.cast(days, pa.int32()), pa.date32()), _S)
    ident_s = pc.cast(pc.add(_scatter(number, 6_700_417, 9_000_000), 1_000_000), _S)
    ssid = pc.cast(pc.add(_scatter(number, 2_147_483_647, 9_000_000_000), 1_000_000_000), _S)
    return {
        "number": number,
        "school": school,
        "grade": grade,
        "pos": pos,
        "group": group,
        "female": female,
        "given": given,
        "middle": middle,
        "preferred": preferred,
        "sex": sex,
        "birth": birth,
        "identifier": ident_s,
        "ssid": ssid,
    }


def _scatter(x: pa.Array, mult: int, modulus: int) -> pa.Array:
    return mod(pc.multiply(pc.cast(x, INT), mult), modulus)


def make_families(rng: Rng, school: pa.Array, region: pa.Array) -> dict:
    """Group students into families of 1–4 children within a feeder region.

    Returns ``family`` (per student), ``order`` (students sorted by family), ``sizes`` and
    ``starts`` (per family, into ``order``).
    """
    n = len(school)
    key = pc.add(
        pc.multiply(pc.cast(region, INT), 2**32),
        pc.cast(pc.shift_right(rng.bits(n), pa.scalar(32, pa.uint64())), INT),
    )
    order = pc.cast(pc.sort_indices(key), INT)
    est = n + 8
    sizes = pc.add(rng.categorical(est, KIDS_WEIGHTS), 1)
    cum = pc.cumulative_sum(sizes)
    nf = pc.sum(pc.cast(pc.less(cum, n), INT)).as_py() + 1
    before = cum[nf - 2].as_py() if nf >= 2 else 0
    sizes = pa.concat_arrays([sizes.slice(0, nf - 1), pa.array([n - before], INT)])
    fam_sorted = repeat_index(sizes)
    inverse = pc.cast(pc.sort_indices(order), INT)
    return {
        "family": pc.take(fam_sorted, inverse),
        "child_rank": pc.take(rank_in_group(sizes), inverse),
        "order": order,
        "sizes": sizes,
        "starts": offsets_of(sizes).slice(0, nf),
    }


def _choose3(index: pa.Array, values: tuple) -> pa.Array:
    return pc.take(pa.array(list(values)), index)


def _guardian_attrs(
    rng: Rng, fam: dict, surname1: pa.Array, surname2: pa.Array
) -> tuple[pa.Table, pa.Array]:
    """One row of numeric attributes per guardian row (names and contacts rendered later)."""
    n_g = pc.add(rng.categorical(len(fam["sizes"]), GUARDIAN_WEIGHTS), 1)
    gfam = repeat_index(n_g)
    g = len(gfam)
    k = rank_in_group(n_g)
    kc = pc.min_element_wise(k, 2)
    female = pc.less(rng.uniform(g), _choose3(kc, (0.7, 0.3, 0.55)))
    u = rng.uniform(g)
    role = pc.add(
        pc.cast(pc.greater_equal(u, _choose3(kc, (0.92, 0.94, 0.30))), INT),
        pc.cast(pc.greater_equal(u, _choose3(kc, (1.0, 1.0, 0.40))), INT),
    )
    u2 = rng.uniform(g)
    s1, s2 = pc.take(surname1, gfam), pc.take(surname2, gfam)
    rnd = rng.integers(g, len(FAMILY))
    family_idx = pc.case_when(
        pc.make_struct(pc.equal(k, 0), pc.equal(k, 1)),
        pc.if_else(pc.less(u2, 0.9), s1, rnd),
        pc.if_else(pc.less(u2, 0.6), s1, s2),
        pc.if_else(pc.less(u2, 0.3), s2, rnd),
    )
    number = arange(g, 1)
    return pa.table(
        {
            "fam": gfam,
            "k": k,
            "female": female,
            "given_idx": _pick(rng, female, ADULT_F, ADULT_M),
            "family_idx": family_idx,
            "role": role,
            "contact": rng.categorical(g, CONTACT_WEIGHTS),
            "style": rng.integers(g, contacts.EMAIL_STYLES),
            "domain": rng.categorical(g, names.GUARDIAN_DOMAIN_WEIGHTS),
            "fmt": rng.categorical(g, contacts.PHONE_FORMAT_WEIGHTS),
            "sms": rng.bernoulli(g, 0.45),
            "email_key": number,
            "phone_slot": pc.subtract(number, 1),
            "number": number,
        }
    ), n_g


def _render_person(t: pa.Table, adult: bool = True) -> dict[str, pa.Array]:
    female = t["female"].combine_chunks()
    gi, fi = t["given_idx"].combine_chunks(), t["family_idx"].combine_chunks()
    return {
        "given": _by_sex(female, gi, ADULT_F, ADULT_M),
        "family": pc.take(FAMILY, fi),
        "given_fold": _by_sex(female, gi, FOLD_ADULT_F, FOLD_ADULT_M),
        "family_fold": pc.take(FOLD_FAMILY, fi),
    }


def render_guardians(t: pa.Table) -> dict[str, pa.Array]:
    """Names, e-mail, phone, sms, role and username of guardian attribute rows."""
    r = _render_person(t)
    contact = t["contact"].combine_chunks()
    has_email = pc.less_equal(contact, 1)
    has_phone = pc.or_(pc.equal(contact, 0), pc.equal(contact, 2))
    mail = contacts.email(
        r["given_fold"],
        r["family_fold"],
        t["email_key"].combine_chunks(),
        t["style"].combine_chunks(),
        pc.take(DOMAINS, t["domain"].combine_chunks()),
    )
    slot = t["phone_slot"].combine_chunks()
    tel = contacts.phone(slot, t["fmt"].combine_chunks())
    sms = contacts.phone(slot, pa.repeat(pa.scalar(4, INT), len(slot)))
    number = t["number"].combine_chunks()
    return {
        "sourcedId": fmt_ids("gdn-", number),
        "givenName": r["given"],
        "familyName": r["family"],
        "email": _null_unless(has_email, mail),
        "phone": _null_unless(has_phone, tel),
        "sms": _null_unless(pc.and_(has_phone, t["sms"].combine_chunks()), sms),
        "role": pc.take(pa.array(list(GUARDIAN_ROLES)), t["role"].combine_chunks()),
        "username": fmt_ids("p", pc.add(number, 1_000_000), 7),
    }


def _staff_attrs(plan: Plan, rng: Rng) -> pa.Table:
    n = len(plan.staff_role)
    number = arange(n, 1)
    female = rng.bernoulli(n, 0.7)
    return pa.table(
        {
            "female": female,
            "given_idx": _pick(rng, female, ADULT_F, ADULT_M),
            "family_idx": rng.integers(n, len(FAMILY)),
            "has_phone": rng.bernoulli(n, 0.35),
            "fmt": rng.categorical(n, contacts.PHONE_FORMAT_WEIGHTS),
            "phone_slot": pc.subtract(names.PHONE_SLOTS, number),
            "number": number,
        }
    )


def _staff_orgs(plan: Plan, rng: Rng) -> list[str]:
    """Each staff member's orgs; ~2% of teachers are itinerant between two schools."""
    by_level: dict[str, list[str]] = {}
    for s in plan.schools:
        by_level.setdefault(s.level, []).append(s.sourced_id)
    out = []
    r = rng.py
    for role, school in zip(plan.staff_role, plan.staff_school, strict=True):
        if school < 0:
            out.append(DISTRICT_ID)
            continue
        own = plan.schools[school]
        others = by_level[own.level]
        if role == "teacher" and len(others) > 1 and r.random() < 0.02:
            second = r.choice(others)
            if second != own.sourced_id:
                out.append(f"{own.sourced_id},{second}")
                continue
        out.append(own.sourced_id)
    return out


def _differing(r: random.Random, n: int, share: float) -> dict[int, str]:
    """Pick which of ``n`` planted people get differing details, at least one of each kind."""
    k = min(n, max(round(n * share), len(DIFF_KINDS)))
    chosen = sorted(r.sample(range(n), k))
    return {i: DIFF_KINDS[j % len(DIFF_KINDS)] for j, i in enumerate(chosen)}


def _set(t: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return t.set_column(t.schema.get_field_index(name), name, values)


def _patch_col(t: pa.Table, name: str, rows: list[int], new: list) -> pa.Table:
    from .relations import patch

    return _set(t, name, patch(t[name].combine_chunks(), rows, new))


def build_people(plan: Plan, rng: Rng, version: str) -> tuple[People, dict]:
    """Generate students, families, guardians and staff for ``plan``; plant multi-role people."""
    from .relations import distinct_orgs, lookup, patch

    st = build_students(plan, rng.child("students"), version)
    n = len(st["school"])
    school_ids = pa.array([s.sourced_id for s in plan.schools], _S)
    region = pc.take(pa.array([s.region for s in plan.schools], INT), st["school"])
    fam = make_families(rng.child("families"), st["school"], region)
    nf = len(fam["sizes"])
    frng = rng.child("family")
    surname1, surname2 = frng.integers(nf, len(FAMILY)), frng.integers(nf, len(FAMILY))
    lists_children = frng.bernoulli(nf, GUARDIAN_LISTS_CHILDREN)
    ga, n_g = _guardian_attrs(rng.child("guardians"), fam, surname1, surname2)
    gstart = offsets_of(n_g)
    g_regular = len(ga)
    planted = Planted()
    prng = rng.child("planting").py

    # 1. the same guardian exported twice (two sourcedIds), linked from different children
    sizes_py = fam["sizes"].to_pylist()
    multi = [f for f, s in enumerate(sizes_py) if s >= 2]
    chosen = sorted(prng.sample(multi, round(len(multi) * DUPLICATE_GUARDIAN_SHARE)))
    gstart_py = gstart.to_pylist()
    originals = [gstart_py[f] for f in chosen]
    n_dup = len(chosen)
    ga = _patch_col(ga, "contact", originals, [0] * n_dup)
    dups = _set(ga.take(pa.array(originals, INT)), "number", arange(n_dup, g_regular + 1))
    dup_kind = _differing(prng, n_dup, DUPLICATE_DIFFERING_SHARE)
    rows = [i for i, k in dup_kind.items() if k == "phone"]
    dups = _patch_col(dups, "phone_slot", rows, [g_regular + i for i in rows])
    rows = [i for i, k in dup_kind.items() if k == "email"]
    dups = _patch_col(dups, "email_key", rows, [g_regular + 1 + i for i in rows])
    ga = pa.concat_tables([ga, dups]).combine_chunks()
    dup_of_family = [-1] * nf
    for j, f in enumerate(chosen):
        dup_of_family[f] = g_regular + j
    dup_arr = pa.array(dup_of_family, INT)

    # 2. staff who are also guardians (a separate guardian row, as SIS exports do)
    sa = _staff_attrs(plan, rng.child("staff"))
    school_staff = [i for i, s in enumerate(plan.staff_school) if s >= 0]
    n_sg = min(len(school_staff), round(len(plan.staff_role) * STAFF_GUARDIAN_SHARE))
    regular = ga.slice(0, g_regular)
    cand_mask = pc.and_(
        pc.and_(pc.equal(regular["k"], 0), pc.equal(regular["contact"], 0)),
        pc.less(pc.take(dup_arr, regular["fam"]), 0),
    )
    candidates = pc.indices_nonzero(cand_mask).to_pylist()
    n_sg = min(n_sg, len(candidates))
    sg_staff = sorted(prng.sample(school_staff, n_sg))
    sg_guard = prng.sample(candidates, n_sg)
    sg_kind = _differing(prng, n_sg, STAFF_GUARDIAN_DIFFERING_SHARE)
    gsel = ga.take(pa.array(sg_guard, INT))
    for col in ("female", "given_idx", "family_idx", "fmt"):
        sa = _patch_col(sa, col, sg_staff, gsel[col].to_pylist())
    sa = _patch_col(sa, "has_phone", sg_staff, [True] * n_sg)
    same_phone = [i for i in range(n_sg) if sg_kind.get(i) != "phone"]
    sa = _patch_col(
        sa,
        "phone_slot",
        [sg_staff[i] for i in same_phone],
        [gsel["phone_slot"][i].as_py() for i in same_phone],
    )

    # render
    gr = render_guardians(ga)
    sr = _render_person(sa)
    snum = sa["number"].combine_chunks()
    staff_email = contacts.email(
        sr["given_fold"],
        sr["family_fold"],
        snum,
        pa.repeat(pa.scalar(0, INT), len(snum)),
        pa.repeat(pa.scalar(names.DISTRICT_DOMAIN), len(snum)),
    )
    staff_ids = fmt_ids("stf-", snum)

    # planted detail differences (a few thousand rows at most: plain Python)
    emails, givens = gr["email"], gr["givenName"]
    e_rows, e_new, n_rows, n_new = [], [], [], []
    for i, kind in dup_kind.items():
        row = g_regular + i
        if kind == "email_case":
            e_rows.append(row)
            e_new.append(contacts.email_case_variant(emails[row].as_py()))
        elif kind == "name_typo":
            n_rows.append(row)
            n_new.append(contacts.typo(givens[row].as_py(), prng))
    s_emails = staff_email.take(pa.array(sg_staff, INT)).to_pylist()
    s_given = sr["given"].take(pa.array(sg_staff, INT)).to_pylist()
    for i, row in enumerate(sg_guard):
        kind = sg_kind.get(i, "same")
        if kind == "email_case":
            e_rows.append(row)
            e_new.append(contacts.email_case_variant(s_emails[i]))
        elif kind != "email":
            e_rows.append(row)
            e_new.append(s_emails[i])
        if kind == "name_typo":
            n_rows.append(row)
            n_new.append(contacts.typo(s_given[i], prng))
    gr["email"] = patch(emails, e_rows, e_new)
    gr["givenName"] = patch(givens, n_rows, n_new)
    gids = gr["sourcedId"]
    for i in range(n_dup):
        kind = dup_kind.get(i, "same")
        planted.duplicate_guardian_ids.append(
            (gids[originals[i]].as_py(), gids[g_regular + i].as_py(), kind)
        )
    for i in range(n_sg):
        planted.staff_guardian_ids.append(
            (staff_ids[sg_staff[i]].as_py(), gids[sg_guard[i]].as_py(), sg_kind.get(i, "same"))
        )
    planted.duplicate_guardian_same = n_dup - len(dup_kind)
    planted.staff_guardian_same = n_sg - len(sg_kind)
    for kind in DIFF_KINDS:
        planted.duplicate_guardian_differing[kind] = sum(1 for k in dup_kind.values() if k == kind)
        planted.staff_guardian_differing[kind] = sum(1 for k in sg_kind.values() if k == kind)

    # student -> guardian links (dup families: children after the first use the 2nd row)
    fam_s = fam["family"]
    cnt = pc.take(n_g, fam_s)
    parent = repeat_index(cnt)
    r = rank_in_group(cnt)
    f_p = pc.take(fam_s, parent)
    gidx = pc.add(pc.take(gstart, f_p), r)
    d = pc.take(dup_arr, f_p)
    swap = pc.and_(
        pc.and_(pc.equal(r, 0), pc.greater_equal(d, 0)),
        pc.greater_equal(pc.take(fam["child_rank"], parent), 1),
    )
    gidx = pc.if_else(swap, d, gidx)
    student_agents = join_list(pc.take(gids, gidx), cnt)
    stu_school_ids = pc.take(school_ids, st["school"])
    g_orgs = distinct_orgs(gidx, pc.take(stu_school_ids, parent))
    all_g = arange(len(ga))
    guardian_orgs = lookup(all_g, g_orgs["user"], g_orgs["orgs"])

    # guardian -> student links, for the families whose export lists them
    gf = ga["fam"].combine_chunks()
    size_g = pc.take(fam["sizes"], gf)
    is_dup = pc.greater_equal(all_g, g_regular)
    is_orig = pc.is_in(all_g, value_set=pa.array(originals, INT))
    count = pc.if_else(is_dup, pc.subtract(size_g, 1), pc.if_else(is_orig, 1, size_g))
    first = pc.cast(is_dup, INT)
    count = pc.if_else(pc.take(lists_children, gf), count, 0)
    gp = repeat_index(count)
    pos = pc.add(
        pc.add(pc.take(fam["starts"], pc.take(gf, gp)), pc.take(first, gp)), rank_in_group(count)
    )
    stu_ids = fmt_ids("stu-", st["number"])
    guardian_agents = join_list(pc.take(stu_ids, pc.take(fam["order"], pos)), count)

    # students' family names: mostly the family's surname, some hyphenated or the other parent's
    s1 = pc.take(FAMILY, pc.take(surname1, fam_s))
    s2 = pc.take(FAMILY, pc.take(surname2, fam_s))
    hyph = pc.if_else(pc.equal(s1, s2), s1, pc.binary_join_element_wise(s1, s2, "-"))
    mode = rng.child("kid-surname").categorical(n, (82, 10, 8))
    family_name = pc.choose(pc.cast(mode, pa.int8()), s1, hyph, s2)

    ident = st["identifier"]
    secondary = pc.greater_equal(st["grade"], 6)
    students = _canonical(
        n,
        {
            "sourcedId": stu_ids,
            "enabledUser": pc.if_else(rng.child("enabled").bernoulli(n, 0.005), "false", "true"),
            "role": "student",
            "orgs": stu_school_ids,
            "username": pc.binary_join_element_wise("s", ident, ""),
            "userIds": pc.binary_join_element_wise("{SIS:", ident, "}", ""),
            "givenName": st["given"],
            "familyName": family_name,
            "middleName": st["middle"],
            "identifier": ident,
            "email": _null_unless(
                secondary, pc.binary_join_element_wise("s", ident, "@" + names.STUDENT_DOMAIN, "")
            ),
            "agentSourcedIds": student_agents,
            "grades": pc.take(pa.array(GRADE_CODES), st["grade"]),
            "userMasterIdentifier": st["ssid"],
            "preferredGivenName": st["preferred"],
        },
    )
    guardians = _canonical(
        len(ga),
        {
            "sourcedId": gids,
            "enabledUser": "true",
            "role": gr["role"],
            "orgs": guardian_orgs,
            "username": gr["username"],
            "givenName": gr["givenName"],
            "familyName": gr["familyName"],
            "email": gr["email"],
            "sms": gr["sms"],
            "phone": gr["phone"],
            "agentSourcedIds": guardian_agents,
        },
    )
    local = pc.replace_substring_regex(staff_email, "@.*$", "")
    emp = pc.binary_join_element_wise("E", pc.cast(pc.add(snum, 100_000), _S), "")
    staff = _canonical(
        len(snum),
        {
            "sourcedId": staff_ids,
            "enabledUser": "true",
            "role": pa.array(plan.staff_role, _S),
            "orgs": pa.array(_staff_orgs(plan, rng.child("itinerant")), _S),
            "username": local,
            "userIds": pc.binary_join_element_wise("{SIS:", emp, "},{LDAP:", local, "}", ""),
            "givenName": sr["given"],
            "familyName": sr["family"],
            "identifier": emp,
            "email": staff_email,
            "phone": _null_unless(
                sa["has_phone"].combine_chunks(),
                contacts.phone(sa["phone_slot"].combine_chunks(), sa["fmt"].combine_chunks()),
            ),
        },
    )
    no_contact = pc.and_(
        pc.and_(pc.is_null(gr["email"]), pc.is_null(gr["phone"])), pc.is_null(gr["sms"])
    )
    return People(
        students=students,
        guardians=guardians,
        staff=staff,
        demographics=demographics(rng.child("demographics"), stu_ids, st["birth"], st["sex"]),
        families=nf,
        planted=planted,
        guardians_without_contact=pc.sum(pc.cast(no_contact, INT)).as_py() or 0,
    ), st


def _canonical(n: int, cols: dict) -> pa.Table:
    out = {}
    for name in CANONICAL:
        v = cols.get(name)
        if v is None:
            out[name] = pa.nulls(n, _S)
        elif isinstance(v, str):
            out[name] = pa.repeat(pa.scalar(v, _S), n)
        else:
            out[name] = v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v
    return pa.table(out)


RACES = (
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
)
BIRTH_COUNTRIES = ("MX", "SV", "GT", "IN", "CN", "VN", "PH", "UA", "HN", "NG")


def demographics(rng: Rng, ids: pa.Array, birth: pa.Array, sex: pa.Array) -> pa.Table:
    """Demographics rows (students only): birth date, sex, race flags, ethnicity, country."""
    n = len(ids)
    race = rng.categorical(n, (1, 6, 15, 0.5, 70, 7.5))
    cols: dict[str, pa.Array] = {"sourcedId": ids, "birthDate": birth, "sex": sex}
    for i, name in enumerate(RACES):
        cols[name] = pc.if_else(pc.equal(race, i), "true", "false")
    cols["hispanicOrLatinoEthnicity"] = pc.if_else(rng.bernoulli(n, 0.28), "true", "false")
    abroad = rng.bernoulli(n, 0.08)
    country = pc.take(pa.array(list(BIRTH_COUNTRIES)), rng.integers(n, len(BIRTH_COUNTRIES)))
    cols["countryOfBirthCode"] = pc.if_else(abroad, country, "US")
    return pa.table(cols)
