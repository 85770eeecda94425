"""``rollbook generate``: the generator's command line (registered on the root Typer app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .bundle import DEFAULT_SEED, GeneratorSummary, generate_bundle


def _show(summary: GeneratorSummary, console: Console) -> None:
    table = Table(title=f"OneRoster {summary.version} bundle → {summary.out}")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("students", summary.students),
        ("families", summary.families),
        ("guardian rows", summary.guardian_rows),
        ("guardian people", summary.guardian_people),
        ("duplicate guardian rows, same details", summary.duplicate_guardian_rows_same),
        (
            "duplicate guardian rows, differing",
            sum(summary.duplicate_guardian_rows_differing.values()),
        ),
        ("staff", summary.staff),
        ("staff also guardians, same details", summary.staff_also_guardians_same),
        ("staff also guardians, differing", sum(summary.staff_also_guardians_differing.values())),
        ("guardians without e-mail or phone", summary.guardians_without_contact),
        ("users rows", summary.users),
        ("enrollments", summary.enrollments),
        ("classes", summary.classes),
        ("schools", summary.schools),
    ]
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    console.print(table)
    console.print(
        f"written in {summary.seconds:.1f} s" + (f"; zip {summary.zip}" if summary.zip else "")
    )


def register(app: typer.Typer) -> None:
    """Add the ``generate`` command to ``app``."""

    @app.command("generate")
    def generate(
        out: Annotated[
            Path, typer.Argument(help="Bundle folder to write (replaced if it exists).")
        ],
        students: Annotated[int, typer.Option("--students", "-n", help="Number of students.")] = (
            10_000
        ),
        version: Annotated[str, typer.Option(help="OneRoster version: 1.1 or 1.2.")] = "1.2",
        seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = (
            DEFAULT_SEED
        ),
        zip_: Annotated[bool, typer.Option("--zip", help="Also write OUT.zip.")] = False,
        next_day_of: Annotated[
            Path | None,
            typer.Option("--next-day-of", help="Derive the next day's bundle of this bundle."),
        ] = None,
        changes: Annotated[
            float, typer.Option(help="With --next-day-of: share of records that change.")
        ] = 0.01,
        delta: Annotated[
            bool, typer.Option("--delta", help="With --next-day-of: write delta files.")
        ] = False,
    ) -> None:
        """Generate a deterministic, realistic OneRoster CSV bundle (or its next day)."""
        console = Console()
        if version not in ("1.1", "1.2"):
            raise typer.BadParameter("version must be 1.1 or 1.2", param_hint="--version")
        if next_day_of is not None:
            from .nextday import derive_next_day

            nd = derive_next_day(next_day_of, out, changes, seed=seed, delta=delta, zip=zip_)
            console.print(nd.table())
            return
        summary = generate_bundle(out, students, version=version, seed=seed, zip=zip_)
        _show(summary, console)
