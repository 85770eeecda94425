"""Stage 2, plan: the difference between what the bundle delivers and what the source last
delivered, per entity, as Arrow tables — plus who each changed person is (``identity.py``).

A plan is saved beside the run (Arrow IPC files under ``ROLLBOOK_HOME/plans/run-<id>/``) so
that it can be inspected as a dry run and applied later, unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from rollbook.oneroster.checks import marked
from rollbook.oneroster.csvread import LINE
from rollbook.oneroster.threads import side_by_side

from .delta import UNRESOLVED_SCHEMA
from .read import ENTITIES, Incoming, keep_rows
from .resolve import settle

ACTIONS = ("create", "update", "reactivate", "archive")
STATE_SCHEMA = pa.schema(
    [
        ("sourced_id", pa.string()),
        ("state_fingerprint", pa.int64()),
        ("local_id", pa.int64()),
        ("active", pa.bool_()),
        ("withheld", pa.bool_()),
    ]
)


@dataclass
class EntityPlan:
    """What happens to one entity. ``update`` and ``reactivate`` rows carry ``local_id``;
    ``create`` rows of students and people their ``line`` of users.csv (``lines.py``)."""

    create: pa.Table
    update: pa.Table
    reactivate: pa.Table
    archive: pa.Table  # sourced_id, local_id
    unchanged: int = 0
    active_before: int = 0
    # References of a delta that neither the bundle nor the source's state resolves
    # (delta.UNRESOLVED_SCHEMA): the apply records each; ``skipped`` rows were left out.
    unresolved: pa.Table = field(default_factory=UNRESOLVED_SCHEMA.empty_table)

    @property
    def skipped(self) -> int:
        return self.unresolved.num_rows - (pc.sum(self.unresolved["written"]).as_py() or 0)

    def counts(self) -> dict[str, int]:
        return {
            "created": self.create.num_rows,
            "updated": self.update.num_rows,
            "reactivated": self.reactivate.num_rows,
            "archived": self.archive.num_rows,
            "unchanged": self.unchanged,
            "active_before": self.active_before,
            "skipped": self.skipped,
        }


@dataclass
class Plan:
    entities: dict[str, EntityPlan]
    identity: dict[str, pa.Table] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        return {entity: p.counts() for entity, p in self.entities.items()}

    def is_empty(self) -> bool:
        return all(
            p.create.num_rows + p.update.num_rows + p.reactivate.num_rows + p.archive.num_rows == 0
            for p in self.entities.values()
        )


def diff(incoming: pa.Table, state: pa.Table, complete: bool) -> EntityPlan:
    """Compare one entity's incoming records with its state.

    Args:
        incoming: records with ``sourced_id``, ``fingerprint``, ``deleted`` and fields.
        state: ``sourced_id``, ``state_fingerprint``, ``local_id``, ``active``.
        complete: the entity came from a bulk file, so records absent from it are archived.
    """
    # Each incoming record's row in the state (a hash lookup that keeps the incoming order;
    # cheaper than a join, which would also copy every field of both sides). The state's ids
    # are looked up in their pieces as read: combined first, 4.5M enrollments' were copied.
    position = pc.index_in(incoming["sourced_id"], value_set=state["sourced_id"])
    found = state.select(["state_fingerprint", "local_id", "active", "withheld"]).take(position)
    joined = pa.Table.from_arrays(
        incoming.columns + found.columns, names=incoming.column_names + found.column_names
    )
    known = pc.is_valid(position)
    deleted = joined["deleted"]
    alive = pc.invert(deleted)
    active = pc.fill_null(joined["active"], False)
    same = pc.fill_null(pc.equal(joined["fingerprint"], joined["state_fingerprint"]), False)

    # keep_rows: a first sync creates every record; its plan then shares the incoming columns.
    create = keep_rows(joined, pc.and_(pc.invert(known), alive))
    update = keep_rows(joined, pc.and_(pc.and_(known, active), pc.and_(alive, pc.invert(same))))
    reactivate = keep_rows(joined, pc.and_(pc.and_(known, pc.invert(active)), alive))
    unchanged = pc.sum(pc.and_(pc.and_(known, active), pc.and_(alive, same))).as_py() or 0
    archive_deleted = joined.filter(pc.and_(pc.and_(known, active), deleted)).select(
        ["sourced_id", "local_id"]
    )
    archives = [archive_deleted]
    if complete:
        delivered = marked(position, state.num_rows)  # the state rows delivered again
        missing = state.filter(pc.and_(state["active"], pc.invert(delivered)))
        archives.append(missing.select(["sourced_id", "local_id"]))
    drop = ["state_fingerprint", "active", "withheld"]
    # The file's line is kept for the records created only (lineage cites it: lines.py).
    line = [LINE] if LINE in joined.column_names else []
    return EntityPlan(
        create=create.drop_columns(drop + ["local_id"]),
        update=update.drop_columns(drop + line),
        reactivate=reactivate.drop_columns(drop + line),
        archive=pa.concat_tables(archives),
        unchanged=unchanged,
        active_before=pc.sum(state["active"]).as_py() or 0,
    )


def plan_entities(incoming: Incoming, states: dict[str, pa.Table]) -> dict[str, EntityPlan]:
    """Diff every entity that the bundle delivered; the others are left as they are.

    What a delta left open is settled against the state first (``resolve.settle``). The
    entities are diffed side by side on two threads (each diff is Arrow's work alone)."""
    settle(incoming, states)

    def plan_of(entity: str) -> EntityPlan:
        state = states.get(entity, STATE_SCHEMA.empty_table())
        if not incoming.delivered[entity]:
            empty = incoming.tables[entity].slice(0, 0)
            with_id = empty.drop_columns(
                [LINE] if LINE in empty.column_names else []
            ).append_column("local_id", pa.array([], pa.int64()))
            return EntityPlan(
                create=empty,
                update=with_id,
                reactivate=with_id,
                archive=pa.table(
                    {"sourced_id": pa.array([], pa.string()), "local_id": pa.array([], pa.int64())}
                ),
                unchanged=pc.sum(state["active"]).as_py() or 0,
                active_before=pc.sum(state["active"]).as_py() or 0,
            )
        return diff(incoming.tables[entity], state, incoming.complete[entity])

    plans = dict(zip(ENTITIES, side_by_side(*(partial(plan_of, e) for e in ENTITIES)), strict=True))
    for entity, parts in incoming.unresolved.items():
        plans[entity].unresolved = pa.concat_tables(parts).cast(UNRESOLVED_SCHEMA)
    return plans


def without_archives(entities: dict[str, EntityPlan]) -> dict[str, int]:
    """Additions only (a source's mode for rollover weeks): the plan creates, updates and
    reactivates, and archives nothing. Returns how many archives each entity's plan held: the
    run's report says they were skipped. The records stay active in the source's state, so
    the next run that is not additions only archives what is still missing then."""
    skipped = {}
    for entity, entity_plan in entities.items():
        if entity_plan.archive.num_rows:
            skipped[entity] = entity_plan.archive.num_rows
            entity_plan.archive = entity_plan.archive.slice(0, 0)
    return skipped


IDENTITY_LISTS = {"accounts": "new_accounts", "conflicts": "conflicts"}


def listing(saved: Plan, entity: str, action: str = "create") -> pa.Table:
    """What a plan does to one entity (or its new ``accounts`` / ``conflicts``), as shown to
    people: without the internal fingerprint columns (nor, for the records to create, the
    file's line that lineage cites). KeyError for an unknown list."""
    if entity == "matches":  # person records given to accounts that exist already
        people = saved.identity["person_account"]
        table = people.filter(pc.greater(people["account"], 0))
    elif entity in IDENTITY_LISTS:
        table = saved.identity[IDENTITY_LISTS[entity]]
    elif entity in saved.entities and action in ACTIONS:
        table = getattr(saved.entities[entity], action)
        if LINE in table.column_names:
            table = table.drop_columns([LINE])
    elif entity in saved.entities and action == "skipped":  # a delta's unresolved references
        table = saved.entities[entity].unresolved
    else:
        raise KeyError(f"{entity}/{action}")
    return table.drop_columns([c for c in ("fingerprint", "deleted") if c in table.column_names])


def rows(table: pa.Table, batch: int = 5000):
    """The rows of a table as dicts, a batch at a time."""
    for part in table.to_batches(batch):
        yield from part.to_pylist()


# --- saving and loading -------------------------------------------------------------------


def _write(path: Path, table: pa.Table) -> None:
    with ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)


def _read(path: Path) -> pa.Table:
    with ipc.open_file(path) as reader:
        return reader.read_all()


def save(plan: Plan, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for entity, entity_plan in plan.entities.items():
        for action in ACTIONS:
            _write(folder / f"{entity}.{action}.arrow", getattr(entity_plan, action))
        if entity_plan.unresolved.num_rows:
            _write(folder / f"{entity}.unresolved.arrow", entity_plan.unresolved)
    for name, table in plan.identity.items():
        _write(folder / f"identity.{name}.arrow", table)
    meta = {
        "summary": plan.summary,
        "identity": sorted(plan.identity),
        "unchanged": {e: p.unchanged for e, p in plan.entities.items()},
        "active_before": {e: p.active_before for e, p in plan.entities.items()},
    }
    (folder / "plan.json").write_text(json.dumps(meta, indent=2, default=str))


def load(folder: Path) -> Plan:
    meta = json.loads((folder / "plan.json").read_text())
    entities = {}
    for entity in ENTITIES:
        tables = {a: _read(folder / f"{entity}.{a}.arrow") for a in ACTIONS}
        unresolved = folder / f"{entity}.unresolved.arrow"
        if unresolved.exists():
            tables["unresolved"] = _read(unresolved)
        entities[entity] = EntityPlan(
            **tables,
            unchanged=meta["unchanged"][entity],
            active_before=meta["active_before"][entity],
        )
    identity = {name: _read(folder / f"identity.{name}.arrow") for name in meta["identity"]}
    return Plan(entities=entities, identity=identity, summary=meta["summary"])
