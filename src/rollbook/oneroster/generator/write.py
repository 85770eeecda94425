"""Writing bundles: CSV files in normative column order, the manifest, an optional zip."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from . import layout

_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def conform(table: pa.Table, columns: list[str]) -> pa.Table:
    """Select ``columns`` in order, adding all-null string columns for missing ones."""
    n = table.num_rows
    arrays = []
    for name in columns:
        if name in table.column_names:
            col = table[name]
            if col.type != pa.string():
                col = pc.cast(col, pa.string())
            arrays.append(col)
        else:
            arrays.append(pa.nulls(n, pa.string()))
    return pa.table(arrays, names=columns)


def write_csv(path: Path, table: pa.Table, columns: list[str]) -> int:
    """Write ``table`` as a OneRoster CSV (plain header, quoted strings, empty = null)."""
    data = conform(table, columns)
    with open(path, "wb") as fh:
        fh.write((",".join(columns) + "\n").encode())
        pacsv.write_csv(
            data,
            fh,
            pacsv.WriteOptions(include_header=False, quoting_style="needed", batch_size=65536),
        )
    return data.num_rows


def write_manifest(path: Path, version: str, modes: dict[str, str]) -> None:
    """Write ``manifest.csv``; files not in ``modes`` are declared ``absent``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["propertyName", "value"])
    w.writerows(layout.manifest_rows(version, modes))
    path.write_text(buf.getvalue(), encoding="utf-8")


def prepare_dir(out: Path) -> None:
    """Create ``out`` empty (an existing generated bundle there is replaced)."""
    if out.exists():
        if any(p for p in out.iterdir() if p.suffix != ".csv"):
            raise FileExistsError(f"{out} exists and holds files that are not CSV; not replacing")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def zip_bundle(folder: Path, target: Path | None = None) -> Path:
    """Zip the CSV files of ``folder`` (at the zip root, DEFLATE, fixed timestamps)."""
    target = target or folder.with_name(folder.name + ".zip")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(folder.glob("*.csv")):
            info = zipfile.ZipInfo(path.name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    return target


def summary_path(out: Path) -> Path:
    """Where the generator summary of bundle folder ``out`` goes (beside it)."""
    return out.with_name(out.name + ".summary.json")
