"""``rollbook worker``: run the queue's tasks (docs/workers.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from rollbook.errors import UserError


def worker(
    concurrency: Annotated[
        int, typer.Option(help="Worker processes to run (each takes one task at a time).")
    ] = 1,
    heavy: Annotated[
        int,
        typer.Option(
            help="How many of them may run heavy work (syncs, plans, self-checks) at once; "
            "the rest run light work only. About 5 GB each at a million students."
        ),
    ] = 1,
    queues: Annotated[
        str | None, typer.Option(help="Only these queues (comma-separated: heavy,default).")
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between looks at an empty queue.")] = 1.0,
    child: Annotated[bool, typer.Option(hidden=True)] = False,
    parent: Annotated[int | None, typer.Option(hidden=True)] = None,
    batch: Annotated[
        bool, typer.Option(help="Run what is queued now, then stop (for scripts and tests).")
    ] = False,
) -> None:
    """Run background work: syncs, plans, self-checks, merges, scheduled runs."""
    from rollbook import project

    project.setup()
    from . import worker as workers

    if concurrency < 1 or heavy < 0:
        raise UserError("--concurrency must be at least 1 and --heavy at least 0")
    if child or batch or queues:
        names = [q.strip() for q in (queues or ",".join(workers.QUEUES)).split(",") if q.strip()]
        unknown = set(names) - set(workers.QUEUES)
        if unknown:
            raise UserError(f"unknown queue {sorted(unknown)[0]!r}; the queues are heavy, default")
        workers.run_child(names, interval=interval, batch=batch)
        return
    workers.supervise(concurrency, heavy, interval, parent)


def register(app: typer.Typer) -> None:
    app.command()(worker)
