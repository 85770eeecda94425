"""Commands: ``rollbook merge suggest|apply|undo|list``."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rollbook import bars
from rollbook.errors import UserError

out = Console()
merge_app = typer.Typer(
    help="Merge students entered before the first sync into their synced twins (with undo)."
)
BUCKETS = ("ready", "needs_look", "ambiguous", "weak", "no_match")


def _setup():
    from rollbook.project import setup

    setup()


def _district_obj(district_id: int):
    from rollbook.directory.services import get_district

    return get_district(district_id)


def _students(district_id: int, school: list[int] | None):
    from rollbook.directory.models import Student

    students = Student.objects.filter(district=_district_obj(district_id))
    return students.filter(school_id__in=school) if school else students


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@merge_app.command("suggest")
def suggest(
    district: Annotated[int, typer.Option(help="District id.")],
    school: Annotated[list[int] | None, typer.Option(help="Only this school id (repeat).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every suggestion as JSON.")
    ] = False,
) -> None:
    """Which synced student each old student may be, in buckets, with the evidence."""
    _setup()
    from rollbook.merge import services

    found = services.suggest(_students(district, school))
    if as_json:
        _print_json([services.suggestion_record(s) for s in found])
        return
    by_bucket = {b: [s for s in found if s.bucket == b] for b in BUCKETS}
    out.print(
        "Old students: "
        + ", ".join(f"{b.replace('_', ' ')} {len(items)}" for b, items in by_bucket.items())
    )
    for bucket in BUCKETS[:-1]:
        items = by_bucket[bucket]
        if not items:
            continue
        table = Table(title=f"{bucket.replace('_', ' ')} ({len(items)})")
        for column in ("old student", "best candidate", "score", "evidence", "why here", "others"):
            table.add_column(column)
        for s in items[:25]:
            best = s.best
            table.add_row(
                f"{s.old.id} {s.old.name} ({s.old.school_name}, {s.old.grade})",
                f"{best.student.id} {best.student.name} ({best.student.school_name}, "
                f"{best.student.grade})",
                str(best.score),
                "; ".join(best.reasons),
                s.why,
                ", ".join(f"{c.student.id} ({c.score})" for c in s.candidates[1:]),
            )
        out.print(table)
        if len(items) > 25:
            out.print(f"… and {len(items) - 25} more (--json lists every one)")
    out.print(
        "Merge every ready pair with 'rollbook merge apply --district "
        f"{district} --bucket ready', or chosen pairs with --pairs FILE."
    )


def _read_pairs(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        raise UserError(f"{path}: no such file")
    pairs = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            cells = [c.strip() for c in row]
            if not any(cells) or (number == 1 and not cells[0].isdigit()):
                continue  # blank line or header
            if len(cells) < 2 or not cells[0].isdigit() or not cells[1].isdigit():
                raise UserError(
                    f"{path}, line {number}: expected two student ids, old then synced "
                    f"(e.g. '1042,88310'); found {','.join(cells)!r}"
                )
            pairs.append((int(cells[0]), int(cells[1])))
    if not pairs:
        raise UserError(f"{path}: no pairs (one line per pair: old student id, synced student id)")
    return pairs


@merge_app.command("apply")
def apply(
    district: Annotated[int, typer.Option(help="District id.")],
    pairs: Annotated[
        Path | None, typer.Option(help="CSV of pairs: old student id, synced student id.")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option(help="Merge every suggestion of this bucket: 'ready'.")
    ] = None,
    school: Annotated[list[int] | None, typer.Option(help="Only this school id (repeat).")] = None,
    guardians: Annotated[
        str,
        typer.Option(
            help="Guardians found only on the old student (the SIS does not list them): "
            "'drop' (archive their links; the default, also 'default') or 'keep' (keep every "
            "one, by hand)."
        ),
    ] = "default",
    keep_guardian: Annotated[
        list[int] | None,
        typer.Option(
            "--keep-guardian",
            help="Keep this guardian (account id) where the SIS does not list it (repeat). "
            "--dry-run lists them.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every pair; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Merge pairs, one transaction per pair, reported pair by pair."""
    _setup()
    from rollbook.directory.audit import Actor
    from rollbook.merge import services

    if (pairs is None) == (bucket is None):
        raise UserError("give the pairs with --pairs FILE, or use --bucket ready")
    if bucket is not None and bucket != "ready":
        raise UserError("only the ready bucket is merged at once; decide the others one by one")
    if guardians not in ("keep", "drop", "default"):
        raise UserError("--guardians is keep, drop or default")
    if keep_guardian and guardians != "default":
        raise UserError("give either --keep-guardian ACCOUNT_ID (repeat) or --guardians, not both")
    students = _students(district, school)
    if pairs is not None:
        chosen = _read_pairs(pairs)
    else:
        chosen = [
            (s.old.id, s.best.student.id) for s in services.suggest(students) if s.bucket == "ready"
        ]
    keep = set(keep_guardian) if keep_guardian else guardians == "keep"
    with bars.shown(plain=as_json) as progress:
        if keep_guardian:  # every id must be a guardian the SIS does not list, of some pair
            checked = services.merge_many(
                students, chosen, Actor.command_line(), dry_run=True, progress=progress
            )
            unknown = set(keep_guardian) - {g["account"] for r in checked for g in r.guardians}
            if unknown:
                raise UserError(
                    f"--keep-guardian {', '.join(map(str, sorted(unknown)))}: not a guardian "
                    "found only on an old student of these pairs (--dry-run lists them); "
                    "nothing merged"
                )
        results = services.merge_many(
            students,
            chosen,
            Actor.command_line(),
            keep_guardians=keep,
            dry_run=dry_run,
            progress=progress,
        )
    if as_json:
        _print_json([r.__dict__ for r in results])
    else:
        _print_guardians(results, dry_run)
        table = Table(title="Dry run: nothing changed" if dry_run else "Merges")
        for column in ("old", "synced", "result"):
            table.add_column(column)
        for r in results:
            table.add_row(
                str(r.old_id),
                str(r.survivor_id),
                r.error or ("can be merged" if dry_run else f"merged (merge {r.merge_id})"),
            )
        out.print(table)
        failed = sum(1 for r in results if r.error)
        out.print(
            f"{len(results) - failed} of {len(results)} pair(s) {'ok' if dry_run else 'merged'}."
        )
    if any(r.error for r in results):
        raise typer.Exit(1)


def _print_guardians(results, dry_run: bool) -> None:
    rows = [(r, g) for r in results if not r.error for g in r.guardians]
    if not rows:
        return
    table = Table(title="Guardians the SIS does not list (found only on the old student)")
    for column in ("old", "synced", "guardian (account)", "email", "link"):
        table.add_column(column)
    for r, g in rows:
        fate = "kept by hand" if g["kept"] else "dropped (archived)"
        table.add_row(
            str(r.old_id),
            str(r.survivor_id),
            f"{g['name']} ({g['account']})",
            g["email"],
            ("would be " if dry_run else "") + fate,
        )
    out.print(table)
    if any(not g["kept"] for _, g in rows):
        out.print(
            "To keep a guardian, add --keep-guardian ACCOUNT_ID (repeat)."
            if dry_run
            else "To bring a dropped guardian back: 'rollbook merge undo MERGE_ID', then merge "
            "again with --keep-guardian ACCOUNT_ID."
        )


@merge_app.command("undo")
def undo(
    merge_id: Annotated[int, typer.Argument(help="The merge to undo.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Undo a merge: both students, their history and links exactly as before."""
    _setup()
    from rollbook.directory.audit import Actor
    from rollbook.directory.models import Student
    from rollbook.merge import services

    record = services.undo(Student.objects.all(), merge_id, Actor.command_line())
    if as_json:
        _print_json({"merge": record.pk, "status": record.status})
    else:
        out.print(
            f"Merge {record.pk} undone: student {record.old_student_id} is back beside "
            f"student {record.survivor_id}."
        )


@merge_app.command("list")
def list_merges(
    district: Annotated[int, typer.Option(help="District id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Merges of a district, newest first."""
    _setup()
    from rollbook.merge.models import StudentMerge

    items = list(StudentMerge.objects.filter(district_id=district).order_by("-id")[:500])
    rows = [
        {
            "id": m.pk,
            "old_student": m.old_student_id,
            "survivor": m.survivor_id,
            "status": m.status,
            "at": m.created_at.isoformat(),
            "by": m.merged_by_label or m.merged_by_id,
        }
        for m in items
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="Merges")
    for column in rows[0] if rows else ("id",):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(merge_app, name="merge")


adopt_app = typer.Typer(
    help="Before the first sync: confirm which students entered by hand are which SIS "
    "students, so that the first sync adopts them instead of creating duplicates (off unless "
    "confirmed)."
)


@adopt_app.command("suggest")
def adopt_suggest(
    bundle: Annotated[Path, typer.Argument(help="The bundle the first sync will read.")],
    district: Annotated[int, typer.Option(help="District id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every suggestion as JSON.")
    ] = False,
) -> None:
    """Which SIS student each student entered by hand may be, in buckets."""
    _setup()
    from rollbook.merge import adoption

    found, sids = adoption.suggest_adoptions(_district_obj(district), bundle)
    records = [adoption.adoption_record(s, sids) for s in found]
    if as_json:
        _print_json(records)
        return
    counts = {b: sum(1 for r in records if r["bucket"] == b) for b in BUCKETS}
    out.print(
        "Students entered by hand: "
        + ", ".join(f"{b.replace('_', ' ')} {n}" for b, n in counts.items())
    )
    for r in records[:25]:
        best = r["candidates"][0] if r["candidates"] else None
        out.print(
            f"{r['bucket'].replace('_', ' '):>12}  {r['student']['id']} {r['student']['name']} → "
            + (f"{best['sourced_id']} {best['name']} ({best['score']})" if best else "—")
        )


@adopt_app.command("confirm")
def adopt_confirm(
    bundle: Annotated[Path, typer.Argument(help="The bundle the first sync will read.")],
    district: Annotated[int, typer.Option(help="District id.")],
    pairs: Annotated[
        Path | None, typer.Option(help="CSV of pairs: student id, SIS sourcedId.")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option(help="Every suggestion of this bucket: 'ready'.")
    ] = None,
    keep_guardian: Annotated[
        list[int] | None,
        typer.Option(
            "--keep-guardian",
            help="Keep this guardian entered by hand (account id) where the SIS does not list "
            "it (repeat); the sync archives the others. --dry-run lists them.",
        ),
    ] = None,
    keep_guardians: Annotated[
        bool,
        typer.Option(
            "--keep-guardians", help="Keep every guardian entered by hand of these students."
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be confirmed; record nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Confirm adoptions (all or nothing); the next sync of the district adopts them.

    After the adoption, the student has exactly the SIS's guardian links: a guardian entered by
    hand that the SIS does not list for the student is listed here, and kept only when named
    with --keep-guardian (or --keep-guardians)."""
    _setup()
    from rollbook.directory.audit import Actor
    from rollbook.merge import adoption

    district_obj = _district_obj(district)
    if (pairs is None) == (bucket is None):
        raise UserError("give the pairs with --pairs FILE, or use --bucket ready")
    if bucket is not None:
        if bucket != "ready":
            raise UserError("only the ready bucket is confirmed at once")
        found, sids = adoption.suggest_adoptions(district_obj, bundle)
        chosen = [(s.old.id, sids[s.best.student.id]) for s in found if s.bucket == "ready"]
    else:
        if not pairs.exists():
            raise UserError(f"{pairs}: no such file")
        chosen = []
        with pairs.open(newline="", encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                cells = [c.strip() for c in row]
                if not any(cells) or (number == 1 and not cells[0].isdigit()):
                    continue
                if len(cells) < 2 or not cells[0].isdigit() or not cells[1]:
                    raise UserError(
                        f"{pairs}, line {number}: expected a student id and an SIS sourcedId"
                    )
                chosen.append((int(cells[0]), cells[1]))
    if keep_guardian and keep_guardians:
        raise UserError("give either --keep-guardian ACCOUNT_ID (repeat) or --keep-guardians")
    keep = True if keep_guardians else set(keep_guardian or ())
    unlisted = adoption.unlisted_guardians(district_obj, bundle, chosen)
    guardians = {
        student: [
            {
                "account": link.account_id,
                "name": link.account.name,
                "email": link.account.email or "",
                "kept": keep is True or link.account_id in keep,
            }
            for link in links
        ]
        for student, links in unlisted.items()
    }
    made = (
        []
        if dry_run
        else adoption.confirm_adoptions(
            district_obj, chosen, Actor.command_line(), keep_guardians=keep
        )
    )
    if as_json:
        _print_json(
            [
                {
                    "id": a.pk,
                    "student": a.student_id,
                    "sourced_id": a.sourced_id,
                    "kept_guardians": a.kept_guardians,
                }
                for a in made
            ]
            if not dry_run
            else [
                {"student": student, "sourced_id": sid, "guardians_not_in_sis": guardians[student]}
                for student, sid in chosen
            ]
        )
        return
    rows = [(student, g) for student, items in guardians.items() for g in items]
    if rows:
        table = Table(title="Guardians entered by hand that the SIS does not list")
        for column in ("student", "guardian (account)", "email", "at the first sync"):
            table.add_column(column)
        for student, g in rows:
            table.add_row(
                str(student),
                f"{g['name']} ({g['account']})",
                g["email"],
                "kept by hand" if g["kept"] else "link archived",
            )
        out.print(table)
        if not all(g["kept"] for _, g in rows):
            out.print(
                "To keep a guardian, confirm with --keep-guardian ACCOUNT_ID (repeat)"
                + ("." if dry_run else ": cancel the adoption first.")
            )
    if dry_run:
        out.print(f"Dry run: {len(chosen)} adoption(s) would be confirmed; nothing recorded.")
    else:
        out.print(f"{len(made)} adoption(s) confirmed; the next sync adopts them.")


@adopt_app.command("cancel")
def adopt_cancel(
    adoption_id: Annotated[int, typer.Argument(help="The adoption to cancel.")],
    district: Annotated[int, typer.Option(help="District id.")],
) -> None:
    """Cancel an adoption that is still waiting for the sync."""
    _setup()
    from rollbook.directory.audit import Actor
    from rollbook.merge import adoption

    adoption.cancel_adoption(_district_obj(district), adoption_id, Actor.command_line())
    out.print(f"Adoption {adoption_id} cancelled: the sync will create that student anew.")


merge_app.add_typer(adopt_app, name="adopt")
