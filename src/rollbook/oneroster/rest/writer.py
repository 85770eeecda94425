"""Writing a fetch as a OneRoster CSV bundle, page by page, into a folder made whole at the end.

Rows go straight to their CSV file as each page arrives; nothing holds a whole collection.
``metadata`` values go to a side file (row number + values) and are joined as ``metadata.*``
columns when the file is closed, because their names are only known once every page was seen.
The bundle is written into a hidden temporary folder beside the target and renamed onto it
only when the whole fetch succeeded (:func:`publish`); a failed fetch leaves nothing that
could be mistaken for a complete bundle.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..generator import layout

_BUFFER = 1 << 20
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")
SYSTEM_NAME = "Rollbook REST fetch"


class CsvSink:
    """One CSV file of the bundle, written row by row."""

    def __init__(self, path: Path, columns: list[str], mode: str) -> None:
        self.path = path
        self.columns = columns
        self.mode = mode
        self.rows = 0
        self._fh = open(path, "wb", buffering=_BUFFER)  # noqa: SIM115
        self._fh.write((",".join(columns) + "\n").encode())
        self._meta_path = path.with_suffix(".metadata.jsonl")
        self._meta = None
        self._meta_keys: dict[str, None] = {}

    def write(self, rows: list[list[str]]) -> None:
        """Append rows (a bulk file keeps status/dateLastModified only on deleted rows)."""
        if self.mode == "bulk":
            for row in rows:
                if row[1] == "active" or not row[1]:
                    row[1] = row[2] = ""
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        self._fh.write(buf.getvalue().encode())
        self.rows += len(rows)

    def write_table(self, table: pa.Table) -> None:
        """Append the rows of a table of string columns in this file's column order."""
        if self.mode == "bulk" and table.num_rows:
            status = table.column("status")
            keep = pc.fill_null(
                pc.and_(pc.not_equal(status, "active"), pc.not_equal(status, "")), False
            )
            table = table.set_column(1, "status", pc.if_else(keep, status, None))
            modified = table.column("dateLastModified")
            table = table.set_column(2, "dateLastModified", pc.if_else(keep, modified, None))
        pacsv.write_csv(table, self._fh, _CSV_OPTIONS)
        self.rows += table.num_rows

    def metadata(self, row_index: int, values: dict[str, str]) -> None:
        """``metadata.*`` values of row ``row_index`` (0-based, in write order)."""
        if self._meta is None:
            self._meta = open(self._meta_path, "wb", buffering=_BUFFER)  # noqa: SIM115
        for key in values:
            if key not in self._meta_keys:
                self._meta_keys[key] = None
        self._meta.write(orjson.dumps([row_index, values]) + b"\n")

    def close(self) -> None:
        """Finish the file, joining the metadata columns when there were any."""
        self._fh.close()
        if self._meta is None:
            return
        self._meta.close()
        keys = list(self._meta_keys)
        tmp = self.path.with_suffix(".joined")
        with (
            open(self.path, encoding="utf-8", newline="") as src,
            open(self._meta_path, "rb") as side,
            open(tmp, "w", encoding="utf-8", newline="", buffering=_BUFFER) as dst,
        ):
            reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
            writer.writerow(next(reader) + keys)
            pending = _next_meta(side)
            blank = [""] * len(keys)
            for index, row in enumerate(reader):
                if pending is not None and pending[0] == index:
                    writer.writerow(row + [pending[1].get(k, "") for k in keys])
                    pending = _next_meta(side)
                else:
                    writer.writerow(row + blank)
        os.replace(tmp, self.path)
        self._meta_path.unlink()

    def abort(self) -> None:
        """Close without finishing (the folder is about to be removed)."""
        self._fh.close()
        if self._meta is not None:
            self._meta.close()


def _next_meta(side) -> tuple[int, dict] | None:
    line = side.readline()
    if not line:
        return None
    index, values = orjson.loads(line)
    return index, values


class BundleWriter:
    """The CSV files of one fetch, in a temporary folder beside ``out``."""

    def __init__(self, out: Path, version: str, mode: str) -> None:
        out = Path(out)
        if out.exists():
            raise FileExistsError(f"{out} already exists; a fetch writes a new folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.version = version
        self.mode = mode
        self.folder = Path(
            tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
        )
        self.sinks: dict[str, CsvSink] = {}
        self.modes: dict[str, str] = {}

    def open(self, file: str) -> CsvSink:
        """A new CSV file ``file``.csv in the binding's column order."""
        sink = CsvSink(self.folder / f"{file}.csv", layout.columns(self.version, file), self.mode)
        self.sinks[file] = sink
        return sink

    def not_offered(self, file: str) -> None:
        """``file`` is not served by this SIS: drop what was started, declare it absent."""
        sink = self.sinks.pop(file, None)
        if sink is not None:
            sink.abort()
            sink.path.unlink(missing_ok=True)
            sink._meta_path.unlink(missing_ok=True)

    def finish(self) -> dict[str, str]:
        """Close every file and write the manifest; returns each file's mode."""
        modes = {}
        for file, sink in list(self.sinks.items()):
            sink.close()
            if sink.rows == 0:  # the binding forbids header-only files: declare it absent
                sink.path.unlink()
                modes[file] = "absent"
            else:
                modes[file] = self.mode
        source = {"source.systemName": SYSTEM_NAME, "source.systemCode": "rollbook-rest"}
        rows = [(k, source.get(k, v)) for k, v in layout.manifest_rows(self.version, modes)]
        with open(self.folder / "manifest.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["propertyName", "value"])
            w.writerows(rows)
        self.modes = modes
        return modes

    def write_json(self, name: str, data: dict) -> None:
        """A JSON file beside the CSVs (the reader reads only .csv files)."""
        (self.folder / name).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))

    def publish(self) -> Path:
        """Rename the finished folder onto ``out``."""
        os.rename(self.folder, self.out)
        return self.out

    def discard(self) -> None:
        """Remove the temporary folder and everything in it."""
        for sink in self.sinks.values():
            sink.abort()
        shutil.rmtree(self.folder, ignore_errors=True)
