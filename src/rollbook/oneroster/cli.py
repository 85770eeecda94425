"""`rollbook validate BUNDLE [--strict] [--json] [--encoding ENC]`.

Exit codes: 0 the bundle can sync (no errors), 1 it cannot (errors in the bundle: findings),
2 usage, or a bundle refused whole (not a OneRoster bundle, unreadable, unsafe), 70 an internal
error of Rollbook (a bug: one line on stderr, the traceback in a log file, ``crash.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rollbook.crash import guarded

from .bundle import BundleError
from .findings import Severity
from .model import ENTITIES, ReadResult
from .validate import read_bundle

SHOW_PER_CODE = 5


def register(app: typer.Typer) -> None:
    """Add the `validate` command to ``app``."""
    app.command("validate")(validate)


@guarded("validate")
def validate(
    bundle: Annotated[Path, typer.Argument(help="OneRoster .zip or folder of CSV files.")],
    strict: Annotated[
        bool, typer.Option("--strict", help="1EdTech conformance: every deviation is an error.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="Encoding of the CSV files when not UTF-8, e.g. cp932."),
    ] = None,
) -> None:
    """Check a OneRoster bundle and say whether it can sync."""
    console = Console(soft_wrap=True)
    try:
        result = read_bundle(bundle, strict=strict, encoding=encoding)
    except BundleError as exc:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "source": str(bundle),
                        "bundle_error": str(exc),
                        "bundle_error_code": exc.code,
                        "can_sync": False,
                    },
                    indent=2,
                )
            )
        else:
            Console(stderr=True, soft_wrap=True).print(
                f"[bold red]Cannot read the bundle[/] ({exc.code}): {exc}",
                markup=True,
                highlight=False,
            )
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str, ensure_ascii=False))
    else:
        print_report(result, console)
    raise typer.Exit(0 if result.can_sync else 1)


def print_report(result: ReadResult, console: Console) -> None:
    """Human summary: version, files, row counts, findings by code, verdict."""
    mode = "strict (1EdTech conformance)" if result.strict else "lenient (sync)"
    declared = result.version_declared or "none"
    console.print(
        f"[bold]{result.source}[/]  OneRoster {result.version} (declared: {declared}), {mode} mode",
        highlight=False,
    )
    files = Table(title="Files", show_lines=False)
    for col in ("file", "declared", "mode", "state", "rows", "rejected"):
        files.add_column(col, justify="right" if col in ("rows", "rejected") else "left")
    for info in result.files.values():
        if info.found_as is None and info.declared in (None, "absent"):
            continue
        files.add_row(
            info.found_as or info.filename,
            info.declared or "-",
            info.mode,
            info.state,
            f"{info.rows_read:,}",
            f"{info.rows_rejected:,}",
        )
    for name in result.extra_files:
        files.add_row(name, "-", "-", "ignored", "-", "-")
    console.print(files)
    m = result.model
    counts = {e: m.tables[e].num_rows for e in ENTITIES if m.tables[e].num_rows}
    counts |= {"user_roles": m.user_roles.num_rows, "guardian_links": m.guardian_links.num_rows}
    console.print(
        "Accepted rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()), highlight=False
    )
    summaries = sorted(
        result.findings.by_code.values(),
        key=lambda s: (s.severity is not Severity.ERROR, s.spec.code),
    )
    for s in summaries:
        colour = "red" if s.severity is Severity.ERROR else "yellow"
        console.print(
            f"\n[bold {colour}]{s.severity.upper()} {s.spec.code}[/] "
            f"x{s.count:,}: {s.spec.title} ({s.spec.effect})",
            highlight=False,
        )
        console.print(f"  fix: {s.spec.fix}", highlight=False, markup=False)
        for f in s.instances[:SHOW_PER_CODE]:
            console.print(f"  {f.location()}: {f.message}", highlight=False, markup=False)
        if s.count > SHOW_PER_CODE:
            console.print(f"  ... and {s.count - SHOW_PER_CODE:,} more", highlight=False)
    errors, warnings = result.findings.error_count(), result.findings.warning_count()
    verdict = "[bold green]can sync: yes[/]" if result.can_sync else "[bold red]can sync: no[/]"
    console.print(f"\n{verdict}  ({errors:,} errors, {warnings:,} warnings)", highlight=False)


def main() -> None:  # pragma: no cover - convenience entry point for this package alone
    """Run the validate command on its own."""
    app = typer.Typer(add_completion=False)
    register(app)
    app()
