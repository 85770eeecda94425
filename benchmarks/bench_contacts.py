"""Benchmark the bulk contact normalisers on district-scale columns (1.5M values each).

Usage: python benchmarks/bench_contacts.py [--n 1500000] [--seed 7] [--scalar-sample 20000]

Generates realistic guardian/staff phones, emails and given names with a seeded random, times
each bulk function (best of --repeat runs), and prints µs/value and the share of values that took
the slow (scalar) path. For scale, it also times the scalar functions on a sample.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import time

import pyarrow as pa
import pyarrow.compute as pc

from rollbook.directory.contacts import name_key, normalize_email, normalize_phone
from rollbook.directory.contacts_bulk import (
    _BLANK,
    _email_fast,
    _nanp_plan,
    _phone_fast,
    name_keys,
    normalize_emails,
    normalize_phones,
)

AREAS = (  # noqa: SIM905
    "201 212 213 214 215 216 217 218 301 302 303 304 305 310 312 313 314 315 317 318 319 401 "
    "402 404 405 406 407 408 409 410 412 413 414 415 502 503 504 505 507 508 510 512 513 515 "
    "516 517 518 520 530 602 603 604 606 607 608 609 610 612 614 615 616 617 618 619 702 703 "
    "704 706 707 708 712 713 714 715 716 717 718 719 720 801 802 803 804 805 806 808 810 812 "
    "813 814 815 816 817 818 901 903 904 907 908 909 910 912 913 914 915 916 917 918 919 416"
).split()
GIVEN = "Maria José Ana Liam Noah Olivia Emma Ava Mia Sofía Lucas Zoë Chloé Mohammed Wei".split()  # noqa: SIM905
FAMILY = "Garcia Smith Nguyen Johnson Brown O'Neil Müller Kim Patel Lopez Lee Davis".split()  # noqa: SIM905
DOMAINS = ["gmail.com", "yahoo.com", "Outlook.com", "k12.ny.us", "district.org", "icloud.com"]


def phones(rng: random.Random, n: int) -> list[str | None]:
    """Mostly US numbers in the usual formats; some blanks, extensions, foreign and junk."""
    out: list[str | None] = []
    fmts = ["({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "+1 {a} {b} {c}", "{a}{b}{c}"]
    fmts += ["1-{a}-{b}-{c}", "+1{a}{b}{c}", " ({a}) {b} {c} "]
    for _ in range(n):
        r = rng.random()
        if r < 0.05:
            out.append(None if r < 0.03 else "")
            continue
        a, b, c = rng.choice(AREAS), str(rng.randint(200, 999)), f"{rng.randint(0, 9999):04d}"
        if r < 0.96:
            out.append(rng.choice(fmts).format(a=a, b=b, c=c))
        elif r < 0.975:
            out.append(f"{a}-{b}-{c} x{rng.randint(1, 9999)}")
        elif r < 0.985:
            out.append(f"+44 20 7946 {rng.randint(0, 9999):04d}")
        elif r < 0.995:
            out.append(f"{b}-{c}")  # no area code: invalid
        else:
            out.append(rng.choice(["n/a", "none", "1-800-FLOWERS", "call office"]))
    return out


def emails(rng: random.Random, n: int) -> list[str | None]:
    """first.last (digits) at common domains, varied case; some blanks, unicode and typos."""
    out: list[str | None] = []
    for i in range(n):
        r = rng.random()
        if r < 0.04:
            out.append(None if r < 0.03 else " ")
            continue
        local = f"{rng.choice(GIVEN)}.{rng.choice(FAMILY)}{i % 997}"
        if r < 0.985:
            local = local.encode("ascii", "ignore").decode().replace("'", "")
        address = f"{local}@{rng.choice(DOMAINS)}"
        if r > 0.995:
            address = address.replace("@", rng.choice(["", "@@", " at "]))
        out.append(f" {address}" if r < 0.06 else address)
    return out


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_500_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scalar-sample", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    phone_col = pa.array(phones(rng, args.n), pa.string())
    email_col = pa.array(emails(rng, args.n), pa.string())
    name_col = pa.array([rng.choice(GIVEN) + " " * rng.randint(0, 2) for _ in range(args.n)])
    print(f"generated {args.n:,} values per column in {time.perf_counter() - t0:.1f}s")
    _nanp_plan()  # build the metadata plan outside the timings (~ms)

    def slow_share(col: pa.Array, fast: pa.Array) -> float:
        blank = pc.fill_null(pc.match_substring_regex(col, _BLANK), True)
        return pc.sum(pc.invert(pc.or_(fast, blank))).as_py() / len(col)

    core = pc.ascii_trim(email_col, characters=" \t\n\v\f\r")
    rows = [
        (
            "normalize_phones(US)",
            lambda: normalize_phones(phone_col, "US"),
            slow_share(phone_col, _phone_fast(phone_col, _nanp_plan())),
            lambda v: normalize_phone(v, "US"),
            phone_col,
        ),
        (
            "normalize_emails",
            lambda: normalize_emails(email_col),
            slow_share(email_col, _email_fast(email_col, core)),
            normalize_email,
            email_col,
        ),
        ("name_keys", lambda: name_keys(name_col), None, name_key, name_col),
    ]
    for label, fn, share, scalar_fn, col in rows:
        secs, result = timed(fn, args.repeat)
        sample = col.slice(0, args.scalar_sample).to_pylist()
        start = time.perf_counter()
        for value in sample:
            with contextlib.suppress(ValueError):
                scalar_fn(value)
        per_scalar = (time.perf_counter() - start) / len(sample) * 1e6
        extra = ""
        if isinstance(result, tuple):
            extra = f"  invalid {pc.sum(result[1]).as_py() / args.n:6.2%}"
        slow = f"slow path {share:6.2%}" if share is not None else "distinct values only"
        print(
            f"{label:22s} {secs:6.2f}s  {secs / args.n * 1e6:5.2f} µs/value  {slow}{extra}"
            f"  (scalar {per_scalar:5.1f} µs/value)"
        )


if __name__ == "__main__":
    main()
