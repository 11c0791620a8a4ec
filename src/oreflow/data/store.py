"""The data store: embedded sourced tables, user layers, validation, SQL, vintage diffs.

The embedded dataset (``oreflow/data/tables/*.csv`` described by ``datapackage.json``) is read-only
package data. Users add or correct rows with :meth:`Store.import_file`, which reads the file
strictly (:mod:`oreflow.data.csvfile`), validates all of it and then writes it atomically,
under an exclusive lock (:mod:`oreflow.data.userdir`), into a per-user data directory
(``platformdirs``; override with the ``OREFLOW_DATA_DIR`` environment variable). Reading a
table layers the user rows over the embedded rows: a user row replaces the embedded row with
the same primary key. :meth:`Store.query` runs read-only SQL in a sandbox with time, memory
and row limits.

The store is deliberately IO-only: no modelling happens here. Tables come back as pandas
DataFrames typed from the data package (``integer`` → ``Int64``, ``number`` → ``float64``,
``boolean`` → ``boolean``, everything else ``object`` strings with ``NaN`` for empty cells).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from oreflow.data.catalog import (
    FALSE_WORDS,
    ISO3_COLUMNS,
    NONNEGATIVE_BY_TABLE,
    NONNEGATIVE_COLUMNS,
    SHARE_COLUMNS,
    TRUE_WORDS,
    YEAR_COLUMNS,
    Catalog,
    TableInfo,
)
from oreflow.data.csvfile import UNLIMITED, CsvText, read_csv_strings, read_csv_text
from oreflow.data.schemas import (
    check_columns,
    check_iso3,
    check_known,
    check_nonnegative,
    check_shares,
    check_source_ids,
    check_stage_share_sums,
    check_years,
    coerce,
    validate_frame,
)
from oreflow.data.userdir import (
    atomic_write_text,
    clean_stale_temps,
    drop_counts,
    locked,
    write_counts,
    write_error,
)
from oreflow.errors import InputError, Problem, ValidationError, unknown

__all__ = [
    "MAX_QUERY_ROWS",
    "MAX_QUERY_TIMEOUT_S",
    "QUERY_MEMORY_LIMIT",
    "QUERY_THREADS",
    "SOURCE_KEY_TABLES",
    "ImportReport",
    "Store",
    "parse_filters",
    "read_csv_strings",
    "resolve_store",
]

#: Longest time limit a query may ask for [s].
MAX_QUERY_TIMEOUT_S = 3600.0
#: Most rows a query may ask to return.
MAX_QUERY_ROWS = 10_000_000
#: Memory a query may use inside DuckDB (its ``memory_limit`` setting); nothing spills to disk.
QUERY_MEMORY_LIMIT = "1GB"
#: Worker threads of the query connection (DuckDB ``threads``).
QUERY_THREADS = 2
#: Query-tree node types a read-only query may contain (anything else, such as a
#: ``DELETE … RETURNING`` inside a ``WITH``, modifies data and is refused).
_READ_ONLY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE",
                              "CTE_NODE"})


def resolve_store(store: Store | None) -> Store:
    """The store a science entry point reads: ``store`` if given, else :meth:`Store.default`.

    The one place below the CLI where the default store is opened, so that every entry point
    (``SupplyChain.from_default_data``, ``build_baseline``, ``simulate``, ``exposure`` …)
    takes an explicit ``store=`` and passes it on instead of reaching for a global.
    """
    return store if store is not None else Store.default()


@dataclass
class ImportReport:
    """What :meth:`Store.import_file` did (or would do with ``dry_run``)."""

    table: str
    file: str
    rows: int
    added: int
    replaced: int
    dry_run: bool
    target: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "table": self.table,
            "file": self.file,
            "rows": self.rows,
            "added": self.added,
            "replaced": self.replaced,
            "dry_run": self.dry_run,
            "target": str(self.target) if self.target else None,
            "warnings": self.warnings,
        }



#: What a ``source_ids`` entry may name: (kind, table, key column), in lookup order.
SOURCE_KEY_TABLES: tuple[tuple[str, str, str], ...] = (
    ("source", "sources", "source_id"),
    ("policy", "policies", "policy_id"),
    ("licensing record", "licensing", "stat_id"),
)


def parse_filters(items: Sequence[str], what: str = "filter") -> dict[str, str]:
    """``column=value`` strings (``oreflow data show --filter``, the API's ``where``) as a
    mapping for :meth:`Store.filter`.

    Raises
    ------
    oreflow.errors.InputError
        An item without ``=``, named with ``what``.
    """
    where: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"{what} '{item}' must look like column=value")
        col, val = item.split("=", 1)
        where[col.strip()] = val.strip()
    return where


class Store(Catalog):
    """Embedded tables layered with user tables; see the module docstring.

    Parameters
    ----------
    embedded : pathlib.Path, optional
        Directory with ``datapackage.json`` and the CSV files (default: the package data).
    user : pathlib.Path, optional
        Per-user directory for imported rows (default: :func:`default_user_dir`).
    """

    def __init__(self, embedded: Path | None = None, user: Path | None = None) -> None:
        super().__init__(embedded, user)
        self._cache: dict[str, pd.DataFrame] = {}

    @classmethod
    @functools.cache
    def default(cls) -> Store:
        """The store over the embedded data and the current user's directory (cached)."""
        return cls()

    # -- reading --------------------------------------------------------------------------
    def table(self, name: str, *, vintage: str | None = None, latest: bool = False) -> pd.DataFrame:
        """Return table ``name`` (embedded rows layered with user rows) as a typed DataFrame.

        Parameters
        ----------
        name : str
            Table name (``oreflow data list`` shows them).
        vintage : str, optional
            Keep only rows of this edition (tables with a ``vintage``/``edition`` column).
        latest : bool, default False
            Keep, for each key, only the row of the newest vintage (ranked by ``vintages``).
        """
        info = self.info(name)
        if name not in self._cache:
            frames = [self._read_embedded(info)]
            user_path = self.user_file(name)
            if user_path.exists():
                frames.append(self._read_user(info, user_path))
            df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            if len(frames) > 1 and info.primary_key:
                df = df.drop_duplicates(list(info.primary_key), keep="last").reset_index(
                    drop=True
                )
            self._cache[name] = df
        df = self._cache[name]
        vcol = info.vintage_column
        if vintage is not None:
            if vcol is None:
                raise InputError(f"table '{name}' has no vintage column")
            known = df[vcol].dropna().unique().tolist()
            if vintage not in known:
                raise unknown(f"vintage of {name}", vintage, known)
            df = df[df[vcol] == vintage]
        elif latest and vcol is not None:
            df = self.latest(name, df)
        return df.copy()

    def latest(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        """Keep, per key (primary key less the vintage), only the newest vintage's row."""
        info = self.info(name)
        vcol = info.vintage_column
        if vcol is None:
            return df
        rank = self.vintage_rank()
        key = [k for k in info.primary_key if k != vcol]
        order = df[vcol].map(rank).fillna(-1)
        df = df.assign(_rank=order).sort_values("_rank", kind="stable")
        if key:
            df = df.drop_duplicates(key, keep="last")
        return df.drop(columns="_rank").sort_index()

    def _read_embedded(self, info: TableInfo) -> pd.DataFrame:
        text = read_csv_text(self.embedded / info.path, label=info.path, strip=False,
                             max_bytes=UNLIMITED)
        df, problems = coerce(info, text.frame, info.path)
        if problems:  # the shipped data are validated by the test suite; this is a safeguard
            raise ValidationError(_at_lines(problems, text))
        return df

    def _read_user(self, info: TableInfo, path: Path) -> pd.DataFrame:
        """The user rows of ``info`` as stored at ``path`` (written by :meth:`import_file`)."""
        text = read_csv_text(path, max_bytes=UNLIMITED)
        df, problems = coerce(info, text.frame, str(path))
        if problems:
            raise ValidationError(_at_lines(problems, text))
        return df

    # -- validation -----------------------------------------------------------------------
    def validate(self, name: str, df: pd.DataFrame, *, label: str | None = None,
                 first_line: int = 2, extra_sources: Iterable[str] = ()) -> list[Problem]:
        """Return every problem of typed frame ``df`` as rows of table ``name``.

        Runs the pandera schema built from the data package (types, required fields, ranges,
        enums, unique keys) and the cross-table ``check_*`` functions (known countries and
        materials, resolvable sources, shares per stage summing to at most 1).
        ``first_line`` is the file line of ``df``'s first row (2 for a CSV with a header).
        """
        info = self.info(name)
        label = label or info.path
        problems = validate_frame(info, df, label=label, first_line=first_line)
        sources = set(self.table("sources")["source_id"]) if name != "sources" else set()
        if name == "sources":
            sources = set(df["source_id"].dropna())
        sources |= set(extra_sources)
        countries = set(self.table("countries")["iso3"]) if name != "countries" else set(
            df["iso3"].dropna()
        )
        materials = set(self.table("materials")["material"]) if name != "materials" else set(
            df["material"].dropna()
        )
        # range rules the data package already declares are checked by pandera; these
        # guard the tonnage and share columns it leaves open (no rule is reported twice)
        nonnegative = NONNEGATIVE_COLUMNS | NONNEGATIVE_BY_TABLE.get(name, frozenset())
        problems += check_nonnegative(
            df, info.undeclared(nonnegative, "minimum"), label=label, first_line=first_line)
        problems += check_years(df, sorted(YEAR_COLUMNS & set(df.columns)), label=label,
                                first_line=first_line)
        problems += check_shares(
            df, info.undeclared(SHARE_COLUMNS, "minimum", "maximum"), label=label,
            first_line=first_line)
        problems += check_source_ids(df, sources, label=label, first_line=first_line)
        problems += check_iso3(df, countries, label=label, first_line=first_line)
        if name in {"stage_output", "flows"}:
            problems += check_known(
                df, "material", materials, "material", label=label, first_line=first_line
            )
        if name in {"composition", "recipes"}:
            problems += check_known(
                df, "element", materials | {"Fe", "B", "Co", "Nb", "Al", "Cu"},
                "element", label=label, first_line=first_line, combos=True,
            )
        if name == "stage_shares":
            problems += check_stage_share_sums(df, label=label, first_line=first_line)
        return problems

    def validate_all(self) -> list[Problem]:
        """Validate every table as stored (embedded + user rows)."""
        problems: list[Problem] = []
        for name in self.tables():
            problems += self.validate(name, self.table(name), first_line=2)
        return problems

    # -- import ---------------------------------------------------------------------------
    def import_file(self, path: Path, table: str, *, dry_run: bool = False) -> ImportReport:
        """Validate ``path`` as rows of ``table`` and merge them into the user layer.

        The file is rejected whole on any problem (:class:`~oreflow.errors.ValidationError`,
        one :class:`~oreflow.errors.Problem` per broken rule, with its file line): unreadable
        files, files over :data:`~oreflow.data.csvfile.MAX_FILE_BYTES`, rows with too many or
        too few cells, non-finite numbers and every schema rule. Otherwise the user table is
        rewritten atomically (temporary file, ``fsync``, rename) while holding the user
        directory's lock (:func:`~oreflow.data.userdir.locked`), so concurrent imports never
        lose each other's rows and an interrupted import leaves the previous state intact;
        temporary files of earlier killed imports are removed then. Rows whose primary key
        already exists replace the old row. ``dry_run`` validates and reports without
        writing.
        """
        info = self.info(table)
        label = str(path)
        text = read_csv_text(Path(path), label=label)
        raw = text.frame
        problems = check_columns(info, raw, label)
        if problems:
            raise ValidationError(problems)
        if raw.empty:
            raise ValidationError([Problem(label, None, None, "no data rows")])
        df, problems = coerce(info, raw, label)
        if not problems:
            problems = self.validate(table, df, label=label)
        if problems:
            raise ValidationError(_at_lines(problems, text))

        target = self.user_file(table)
        if dry_run:
            return self._report(info, df, self.table(table), label, target, dry_run=True)
        with locked(self.user) as directory:
            clean_stale_temps(directory)
            self._cache.pop(table, None)
            embedded = self._read_embedded(info)
            current = self._read_user(info, target) if target.exists() else df.iloc[0:0]
            existing = pd.concat([embedded, current], ignore_index=True)
            report = self._report(info, df, existing, label, target, dry_run=False)
            merged = pd.concat([current, df], ignore_index=True)
            key = list(info.primary_key)
            if key:
                merged = merged.drop_duplicates(key, keep="last")
            atomic_write_text(merged[info.columns].to_csv(index=False, lineterminator="\n"),
                              target)
            self._cache.pop(table, None)
            layered = pd.concat([embedded, merged], ignore_index=True)
            vcol = info.vintage_column
            write_counts(target, self.embedded_stamp(info), {
                "rows": len(layered.drop_duplicates(key)) if key else len(layered),
                "user_rows": len(merged),
                "vintages": sorted(set(layered[vcol].dropna().astype(str)) - {""})
                if vcol else [],
            })
        return report

    @staticmethod
    def _report(info: TableInfo, df: pd.DataFrame, existing: pd.DataFrame, label: str,
                target: Path, *, dry_run: bool) -> ImportReport:
        """The import report of rows ``df`` merged over the rows ``existing``."""
        key = list(info.primary_key)
        replaced = 0
        if key:
            old_keys = set(map(tuple, existing[key].astype(str).to_numpy().tolist()))
            new_keys = list(map(tuple, df[key].astype(str).to_numpy().tolist()))
            replaced = sum(k in old_keys for k in new_keys)
        return ImportReport(
            table=info.name, file=label, rows=len(df), added=len(df) - replaced,
            replaced=replaced, dry_run=dry_run, target=target,
        )

    def reset_user(self, table: str) -> bool:
        """Remove the user layer of ``table``; return whether there was one."""
        path = self.user_file(self.info(table).name)
        if not path.exists():
            return False
        with locked(self.user) as directory:
            clean_stale_temps(directory)
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            except OSError as exc:
                raise write_error(directory, exc) from None
            finally:
                self._cache.pop(table, None)
            drop_counts(path)
        return True

    # -- provenance -----------------------------------------------------------------------
    def source_record(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """What a source id names, as ``(kind, row)``: a publication (``source``), a
        ``policy`` or a ``licensing record`` (:data:`SOURCE_KEY_TABLES`); None if nothing.

        Scenarios cite all three in ``source_ids``; a figure's sources link to this record.
        """
        names = set(self.tables())
        for kind, table, column in SOURCE_KEY_TABLES:
            if table not in names:
                continue
            df = self.table(table)
            hit = df[df[column].astype(str) == str(key)]
            if not hit.empty:
                return kind, {str(k): v for k, v in hit.iloc[0].to_dict().items()}
        return None

    def sources_for(self, table: str, key: Sequence[str] = (),
                    where: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Trace rows of ``table`` to their publications.

        Parameters
        ----------
        table : str
            Table name.
        key : sequence of str
            Leading primary-key values (e.g. ``["2024", "mine", "REO", "CHN"]`` for
            ``stage_output``); omitted trailing parts match any value. Without a vintage
            in the key, only the newest vintage of each figure is returned.
        where : mapping, optional
            Further ``column → value`` filters.

        Returns
        -------
        pandas.DataFrame
            One row per (figure, source): the figure's key and value columns, then the
            source's publisher, title, edition, url, licence.
        """
        info = self.info(table)
        df = self.filter(table, self.table(table), where or {})
        pk = list(info.primary_key)
        if len(key) > len(pk):
            raise InputError(
                f"table '{table}' has a key of {len(pk)} parts ({'/'.join(pk)}), "
                f"got {len(key)}"
            )
        for col, val in zip(pk, key, strict=False):
            df = df[df[col].astype(str) == str(val)]
        vcol = info.vintage_column
        if vcol is not None and vcol not in pk[: len(key)]:
            df = self.latest(table, df)
        if df.empty:
            raise InputError(
                f"no row of '{table}' matches key {'/'.join(key) or '(any)'}"
                + (f" and {dict(where)}" if where else "")
                + f"; key columns are {'/'.join(pk)}"
            )
        if "source_id" not in df.columns:
            raise InputError(f"table '{table}' carries no source_id")
        keep = pk + [c for c in (info.value_column, "unit", "estimate", "method", "flag")
                     if c and c in df.columns and c not in pk]
        rows = df[keep + ["source_id"] + (["other_source_ids"]
                                           if "other_source_ids" in df.columns else [])]
        others = (rows["other_source_ids"] if "other_source_ids" in rows
                  else pd.Series([None] * len(rows), index=rows.index))
        all_ids: list[list[str]] = [
            [str(s), *(_split_ids(o) if pd.notna(o) else [])]
            for s, o in zip(rows["source_id"], others, strict=True)
        ]
        ids = pd.Series(all_ids, index=rows.index, dtype=object)
        long = rows.assign(source_id=ids).explode("source_id")
        long = long.drop(columns=[c for c in ("other_source_ids",) if c in long.columns])
        src = self.table("sources")[["source_id", "publisher", "title", "edition", "url",
                                     "licence"]]
        return long.merge(src, on="source_id", how="left").reset_index(drop=True)

    def filter(self, table: str, df: pd.DataFrame, where: Mapping[str, str]) -> pd.DataFrame:
        """Apply ``column=value`` filters with helpful errors for unknown columns."""
        info = self.info(table)
        for col, val in where.items():
            if col not in df.columns:
                raise unknown(f"column of {table}", col, info.columns)
            series = df[col]
            kind = info.field(col).get("type")
            if kind == "boolean":
                if val.lower() not in TRUE_WORDS | FALSE_WORDS:
                    raise InputError(f"column '{col}' of {table} is true/false, got '{val}'")
                df = df[series.fillna(False).astype(bool) == (val.lower() in TRUE_WORDS)]
            elif kind in {"integer", "number"}:
                try:
                    df = df[series == float(val)]
                except ValueError:
                    raise InputError(f"column '{col}' of {table} is numeric, got '{val}'") from None
            else:
                mask = series.astype(str) == val
                if not mask.any() and col in ISO3_COLUMNS:
                    codes = self.table("countries")["iso3"].tolist()
                    if val not in codes:
                        raise unknown("country", val, codes)
                if not mask.any() and col in {"material", "element"}:
                    values = series.dropna().astype(str).unique().tolist()
                    raise unknown(f"{col} in {table}", val, values)
                df = df[mask]
        return df

    # -- vintages -------------------------------------------------------------------------
    def vintages(self, table: str) -> list[str]:
        """Vintages present in ``table``, oldest first."""
        info = self.info(table)
        vcol = info.vintage_column
        if vcol is None:
            return []
        rank = self.vintage_rank()
        found = self.table(table)[vcol].dropna().unique().tolist()
        return sorted(found, key=lambda v: (rank.get(v, -1.0), v))

    def diff(self, table: str, from_vintage: str, to_vintage: str, *,
             changed_only: bool = True) -> pd.DataFrame:
        """Compare two editions of ``table`` figure by figure.

        Returns one row per key present in either edition: the key columns, the value in
        each edition, the absolute and relative change and a ``status``:

        ``changed`` / ``unchanged``
            The key is in both editions.
        ``added`` / ``removed``
            The key is only in ``to`` (only in ``from``), and the other edition's data cover
            the key's group (see below): the edition really lacks the figure.
        ``not_in_from_edition`` / ``not_in_to_edition``
            The key is only in one edition and the other edition's data for its group are
            incomplete, so the absence says nothing (e.g. an edition seen only through a few
            restated figures).

        A key's *group* is the key less its country columns (reserves: material and metric;
        stage_output: year, stage, material and basis). An edition *covers* a group if it
        holds at least as many keys of the group as the other edition, or if it holds some
        and none of them carries the flag ``secondary`` (figures read from the publication
        itself, whose table is taken whole).
        """
        info = self.info(table)
        vcol, value = info.vintage_column, info.value_column
        if vcol is None or value is None:
            raise InputError(f"table '{table}' has no vintages to compare")
        a = self.table(table, vintage=from_vintage)
        b = self.table(table, vintage=to_vintage)
        key = [k for k in info.primary_key if k != vcol]
        if key in ([], ["row_id"]):  # keyed by row_id: compare on the descriptive columns
            key = [c for c in info.columns if c not in {vcol, value, "row_id", "source_id",
                   "other_source_ids", "flag", "note", "value_low", "value_high",
                   "qualifier", "tonnes_low", "tonnes_high", "year_status", "method"}]
        m = a[[*key, value]].merge(b[[*key, value]], on=key, how="outer",
                                   suffixes=("_from", "_to"), indicator=True)
        vf, vt = m[f"{value}_from"], m[f"{value}_to"]
        group = [k for k in key if k not in ISO3_COLUMNS]
        covers_from = _covers(a, b, key, group)
        covers_to = _covers(b, a, key, group)
        gkeys = _group_keys(m, group)
        status = pd.Series("unchanged", index=m.index, dtype=object)
        left, right = m["_merge"] == "left_only", m["_merge"] == "right_only"
        to_ok = gkeys.map(lambda g: g in covers_to).astype(bool)
        from_ok = gkeys.map(lambda g: g in covers_from).astype(bool)
        status[left & to_ok] = "removed"
        status[left & ~to_ok] = "not_in_to_edition"
        status[right & from_ok] = "added"
        status[right & ~from_ok] = "not_in_from_edition"
        both = m["_merge"] == "both"
        diff_mask = both & ~((vf == vt) | (vf.isna() & vt.isna()))
        status[diff_mask] = "changed"
        out = m.drop(columns="_merge").assign(
            change=vt - vf,
            change_pct=((vt - vf) / vf.where(vf != 0)) * 100.0,
            status=status,
        )
        if changed_only:
            out = out[out["status"] != "unchanged"]
        return out.sort_values(key).reset_index(drop=True)

    # -- SQL ------------------------------------------------------------------------------
    def duckdb(self, tables: Iterable[str] | None = None) -> Any:
        """An in-process DuckDB connection with the tables registered as views.

        For notebooks and scripts; the views read the layered DataFrames in memory (no file
        is touched). ``oreflow data query`` uses :meth:`query`, which also sandboxes.

        Returns
        -------
        duckdb.DuckDBPyConnection
        """
        import duckdb  # imported on use: keeps `oreflow data list` under 1 s cold

        con = duckdb.connect(":memory:")
        for name in tables if tables is not None else self.tables():
            con.register(self.info(name).name, self.table(name))
        return con

    def query(self, sql: str, *, timeout_s: float = 10.0, max_rows: int = 100_000) -> pd.DataFrame:
        """Run a read-only SQL query (DuckDB dialect) over the tables, in a sandbox.

        Parameters
        ----------
        sql : str
            One ``SELECT`` statement (``WITH … SELECT``, ``UNION`` … included). Anything
            else, several statements, or a ``WITH`` holding a ``DELETE``/``INSERT``/
            ``UPDATE … RETURNING`` is refused.
        timeout_s : float, default 10
            Time limit for running the query and fetching its result [s]; finite, above 0
            and at most :data:`MAX_QUERY_TIMEOUT_S`.
        max_rows : int, default 100000
            Most rows returned (1 to :data:`MAX_QUERY_ROWS`); a larger result is refused,
            and at most ``max_rows + 1`` rows are ever fetched.

        Notes
        -----
        The query runs on a private in-memory DuckDB holding copies of the tables it names,
        with file access, extension loading and spilling to disk disabled, memory limited to
        :data:`QUERY_MEMORY_LIMIT`, :data:`QUERY_THREADS` threads, and the configuration
        locked, so it can neither read nor write files nor change settings. Every problem is
        an :class:`~oreflow.errors.InputError` starting with ``SQL:``.
        """
        timeout_s = _check_timeout(timeout_s)
        max_rows = _check_max_rows(max_rows)
        import duckdb  # imported on use: keeps `oreflow data list` under 1 s cold

        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise InputError(f"SQL: {_first_line(exc)}") from None
        if len(statements) != 1:
            raise InputError(f"SQL: expected one statement, got {len(statements)}")
        if statements[0].type != duckdb.StatementType.SELECT:
            raise InputError(
                f"SQL: only SELECT queries are allowed (got {statements[0].type.name})"
            )
        lowered = sql.lower()
        con = duckdb.connect(":memory:", config={
            "threads": QUERY_THREADS, "memory_limit": QUERY_MEMORY_LIMIT, "temp_directory": "",
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        })
        try:
            _refuse_writes(con, sql)
            for name in self.tables():
                if name in lowered:
                    frame = self.table(name)
                    con.register("_src", frame)
                    con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _src')
                    con.unregister("_src")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            # the LIMIT is pushed into the plan: DuckDB stops after max_rows + 1 rows
            limited = f"SELECT * FROM (\n{_strip_terminator(sql)}\n) AS _q LIMIT {max_rows + 1}"
            timer = threading.Timer(timeout_s, con.interrupt)
            timer.start()
            try:  # the timer covers running the query and fetching its rows
                result = con.execute(limited).fetch_df()
            except duckdb.InterruptException:
                raise InputError(f"SQL: query stopped after the {timeout_s:g} s limit") from None
            except duckdb.OutOfMemoryException:
                raise InputError(f"SQL: query needs more than the {QUERY_MEMORY_LIMIT} memory "
                                 "limit") from None
            except duckdb.Error as exc:
                raise InputError(f"SQL: {_first_line(exc)}") from None
            except (ValueError, OverflowError, TypeError) as exc:
                raise InputError(f"SQL: cannot convert the result ({_first_line(exc)})") from None
            finally:
                timer.cancel()
        finally:
            con.close()
        if len(result) > max_rows:
            raise InputError(f"SQL: result has more than {max_rows} rows; add a LIMIT or "
                             "aggregate")
        return result

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) over the embedded files and the user layer."""
        h = hashlib.sha256()
        for p in sorted(self.embedded.glob("*")):
            if p.suffix in {".csv", ".json"}:
                h.update(p.name.encode())
                h.update(p.read_bytes())
        if (self.user / "tables").exists():
            for p in sorted((self.user / "tables").glob("*.csv")):
                h.update(b"user:" + p.name.encode())
                h.update(p.read_bytes())
        return h.hexdigest()[:16]


# -- helpers shared by reading and importing -------------------------------------------------
def _group_keys(df: pd.DataFrame, group: list[str]) -> pd.Series:
    """The group of each row of ``df`` as a tuple of strings (one group if ``group`` is empty)."""
    if not group:
        return pd.Series([()] * len(df), index=df.index, dtype=object)
    cells = df[group].astype(str).to_numpy().tolist()
    return pd.Series([tuple(c) for c in cells], index=df.index, dtype=object)


def _covers(edition: pd.DataFrame, other: pd.DataFrame, key: list[str],
            group: list[str]) -> set[tuple[str, ...]]:
    """Groups whose data ``edition`` covers (see :meth:`Store.diff`)."""
    def counts(df: pd.DataFrame) -> dict[tuple[str, ...], int]:
        out: dict[tuple[str, ...], int] = {}
        for g in _group_keys(df.drop_duplicates(key), group):
            out[g] = out.get(g, 0) + 1
        return out

    mine, theirs = counts(edition), counts(other)
    primary: set[tuple[str, ...]] = set()
    if "flag" in edition.columns and not edition.empty:
        secondary = edition["flag"].fillna("").astype(str).str.split(";").map(
            lambda fl: "secondary" in fl)
        gk = _group_keys(edition, group)
        flagged = set(gk[secondary])
        primary = set(gk) - flagged
    return {g for g, n in mine.items() if n >= theirs.get(g, 0) or g in primary}


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _split_ids(cell: object) -> list[str]:
    return [x.strip() for x in str(cell).split(";") if x.strip()]


def _at_lines(problems: list[Problem], text: CsvText) -> list[Problem]:
    """Map row positions (line = position + 2) in ``problems`` to the file's lines, in order."""
    mapped = [p if p.line is None or p.line < 2
              else Problem(p.file, text.line_of(p.line - 2), p.column, p.rule)
              for p in problems]
    return sorted(mapped, key=lambda p: p.line or 0)


def _check_timeout(timeout_s: float) -> float:
    """A query time limit [s], or an :class:`InputError` (0, negative, nan, inf, too long)."""
    try:
        value = float(timeout_s)
    except (TypeError, ValueError):
        raise InputError(f"SQL: time limit must be a number of seconds, got {timeout_s!r}"
                         ) from None
    if not math.isfinite(value) or value <= 0 or value > MAX_QUERY_TIMEOUT_S:
        raise InputError(f"SQL: time limit must be above 0 and at most "
                         f"{MAX_QUERY_TIMEOUT_S:g} s, got {timeout_s}")
    return value


def _check_max_rows(max_rows: int) -> int:
    """A row cap, or an :class:`InputError` (not a whole number from 1 to MAX_QUERY_ROWS)."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not (
            1 <= max_rows <= MAX_QUERY_ROWS):
        raise InputError(f"SQL: row limit must be a whole number from 1 to {MAX_QUERY_ROWS}, "
                         f"got {max_rows!r}")
    return max_rows


def _refuse_writes(con: Any, sql: str) -> None:
    """Refuse a SELECT whose parse tree holds a data-modifying node (``WITH … DELETE``).

    DuckDB reports ``WITH x AS (DELETE … RETURNING *) SELECT …`` as a SELECT statement; its
    JSON parse tree (``json_serialize_sql``) shows the ``DELETE_QUERY_NODE`` inside. Only the
    node types in ``_READ_ONLY_NODES`` pass; if the tree cannot be built the query is
    refused.
    """
    import duckdb

    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
    except (duckdb.Error, TypeError, ValueError) as exc:
        raise InputError(f"SQL: cannot check the query ({_first_line(exc)})") from None
    if tree.get("error"):
        raise InputError(f"SQL: {tree.get('error_message') or 'only SELECT queries are allowed'}")
    bad = sorted(t for t in _node_types(tree) if t not in _READ_ONLY_NODES)
    if bad:
        kinds = ", ".join(t.removesuffix("_QUERY_NODE").removesuffix("_NODE") for t in bad)
        raise InputError(f"SQL: only read-only queries are allowed (the query holds {kinds})")


def _node_types(tree: object) -> set[str]:
    """Every ``type`` ending in ``_NODE`` in a JSON parse tree."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            kind = item.get("type")
            if isinstance(kind, str) and kind.endswith("_NODE"):
                found.add(kind)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _strip_terminator(sql: str) -> str:
    """``sql`` without trailing semicolons and comments (so it can become a subquery)."""
    import duckdb

    tokens = duckdb.tokenize(sql)
    while tokens:
        pos, kind = tokens[-1]
        if kind == duckdb.token_type.comment or sql[pos:].lstrip().startswith(";"):
            sql = sql[:pos]
            tokens = tokens[:-1]
        else:
            break
    return sql
