"""The LUT store: append-only parquet part files in one directory, read back as a pandas DataFrame.

Every :meth:`LUTStore.append` writes one new ``part-*.parquet`` file atomically (temp file +
``os.replace``), so killing a collection at any point loses at most the row being measured and never
leaves a half-written part. Reading concatenates all parts and drops duplicates (same ``row_id``
after an interrupted :meth:`compact`; same context + key when two workers raced: the earliest row
wins). A part that cannot be read raises :class:`LUTStoreError` naming the file; nothing is skipped
silently. Appends are safe from several threads of one process and from several processes.

Parts written by an older schema are migrated when read (``MIGRATIONS``, one small function per
version step); :meth:`LUTStore.compact` then rewrites them in the current schema.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from latency.keys import BLOCK_FIELDS, CONTEXT_FIELDS, BlockKey, Context
from latency.stats import LatencyStats

log = logging.getLogger(__name__)

# 2: contexts record the delegate (and ONNX rows the runtime name onnxruntime)
# 3: drift reference (ref_ms, ref_ratio, remeasured, unstable) and block-model columns (source, ...)
SCHEMA_VERSION = 3
ENTRY_LAYER = "layer"
ENTRY_OVERHEAD = "overhead"
ENTRY_REFERENCE = "reference"  # the drift reference's nominal reading (one per context)
ENTRY_PREDICTED = "predicted"  # a layer estimated by the block-latency model (never skips a collection)
ENTRIES = (ENTRY_LAYER, ENTRY_OVERHEAD, ENTRY_REFERENCE, ENTRY_PREDICTED)
SOURCE_MEASURED = "measured"
SOURCE_PREDICTED = "predicted"

PROVENANCE_FIELDS = ("device_model", "device_soc", "os", "affinity", "toolchain", "protocol", "host")
STAT_FIELDS = ("n", "median_ms", "trimmed_mean_ms", "p10_ms", "p90_ms", "std_ms", "min_ms")
# drift reference (schema 3): the reference reading bracketing the measurement, its ratio to the context's
# nominal reading, how often the entry was re-measured because the device was unstable, and whether the
# kept measurement was still taken while unstable
DRIFT_FIELDS = ("ref_ms", "ref_ratio", "remeasured", "unstable")
# block-latency model (schema 3): "measured" or "predicted", the predictor's version, its relative std
MODEL_FIELDS = ("source", "model_version", "uncertainty")
COLUMNS: tuple[str, ...] = (
    "schema_version",
    "row_id",
    "timestamp",
    "entry",
    *CONTEXT_FIELDS,
    *BLOCK_FIELDS,
    *STAT_FIELDS,
    "samples_ms",
    *PROVENANCE_FIELDS,
    *DRIFT_FIELDS,
    *MODEL_FIELDS,
)
ID_FIELDS: tuple[str, ...] = ("entry", *CONTEXT_FIELDS, *BLOCK_FIELDS)


class LUTStoreError(RuntimeError):
    """The store on disk is unreadable or from an incompatible schema; the message names the file."""


@dataclass(frozen=True)
class Drift:
    """How the drift reference saw the device while an entry was measured (see :mod:`latency.reference`).

    ``ref_ms``: the reference reading just before the measurement (NaN: none);
    ``ref_ratio``: ``ref_ms`` over the context's nominal reading (>1: the device ran slow);
    ``remeasured``: times the entry was measured again because a reading said the device was unstable;
    ``unstable``: the kept measurement was still taken while unstable (re-measure budget spent)."""

    ref_ms: float = float("nan")
    ref_ratio: float = 1.0
    remeasured: int = 0
    unstable: bool = False

    def as_row(self) -> dict[str, object]:
        return {
            "ref_ms": float(self.ref_ms),
            "ref_ratio": float(self.ref_ratio),
            "remeasured": int(self.remeasured),
            "unstable": bool(self.unstable),
        }


@dataclass(frozen=True)
class Provenance:
    """Who measured an entry, on what, with which toolchain and protocol."""

    device_model: str = ""
    device_soc: str = ""
    os: str = ""
    affinity: str = ""
    toolchain: Mapping[str, str] = field(default_factory=dict)
    protocol: Mapping[str, object] = field(default_factory=dict)
    host: str = ""

    def as_row(self) -> dict[str, str]:
        return {
            "device_model": self.device_model,
            "device_soc": self.device_soc,
            "os": self.os,
            "affinity": self.affinity,
            "toolchain": json.dumps(dict(self.toolchain), sort_keys=True),
            "protocol": json.dumps(dict(self.protocol), sort_keys=True),
            "host": self.host,
        }


def make_row(
    context: Context,
    key: BlockKey,
    stats: LatencyStats,
    samples_ms: Sequence[float],
    provenance: Provenance,
    entry: str = ENTRY_LAYER,
    drift: Drift | None = None,
    model_version: str = "",
    uncertainty: float = float("nan"),
) -> dict[str, object]:
    """One store row: identity (entry, context, key), summary stats, raw samples, provenance, drift
    reference and (predicted entries) the block model's version and relative uncertainty."""
    if entry not in ENTRIES:
        raise ValueError(f"entry must be one of {ENTRIES}, got {entry!r}")
    return {
        "schema_version": SCHEMA_VERSION,
        "row_id": uuid.uuid4().hex,
        "timestamp": time.time(),
        "entry": entry,
        **context.as_row(),
        **key.as_row(),
        **stats.as_row(),
        "samples_ms": [float(s) for s in samples_ms],
        **provenance.as_row(),
        **(drift or Drift()).as_row(),
        "source": SOURCE_PREDICTED if entry == ENTRY_PREDICTED else SOURCE_MEASURED,
        "model_version": model_version,
        "uncertainty": float(uncertainty),
    }


def row_identity(row: Mapping[str, object]) -> tuple[str, Context, BlockKey]:
    ctx = Context(**{f: _py(row[f]) for f in CONTEXT_FIELDS})  # type: ignore[arg-type]
    key = BlockKey(**{f: _py(row[f]) for f in BLOCK_FIELDS})  # type: ignore[arg-type]
    return str(row["entry"]), ctx, key


def _py(v: object) -> object:
    return v.item() if hasattr(v, "item") else v


class LUTStore:
    """A directory of parquet parts; one row per (entry, context, key)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise LUTStoreError(
                f"LUT store {self.root} is a file; pass a directory (parts are written inside it)"
            )
        self._lock = threading.Lock()
        self._frame: pd.DataFrame | None = None
        self._ids: set[tuple[str, Context, BlockKey]] = set()
        self._seen_parts: set[str] = set()
        self._corrections_migrated = False

    def _migrate_corrections(self) -> None:
        """Correction files are named by their context's digest, which the v2 delegate changed."""
        self._corrections_migrated = True
        try:
            migrate_corrections_v1_to_v2(self.root)
        except OSError as e:  # a read-only store still reads; its v1 corrections are just not found
            log.warning("could not migrate the correction files of %s: %s", self.root, e)

    # ---- reading
    def parts(self) -> list[Path]:
        return sorted(self.root.glob("part-*.parquet")) if self.root.is_dir() else []

    def frame(self, refresh: bool = True) -> pd.DataFrame:
        """All rows (deduplicated), reading any parts written since the last call when ``refresh``."""
        with self._lock:
            if self._frame is None or refresh:
                self._load_new_parts()
            assert self._frame is not None
            return self._frame.copy()

    def _load_new_parts(self) -> None:
        new = [p for p in self.parts() if p.name not in self._seen_parts]
        frames = [] if self._frame is None else [self._frame]
        for p in new:
            frames.append(_read_part(p))
            self._seen_parts.add(p.name)
        if new and not self._corrections_migrated:
            self._migrate_corrections()
        if not frames:
            self._frame = _typed(pd.DataFrame({c: [] for c in COLUMNS}))
            return
        df = _typed(pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True))
        df = df.drop_duplicates("row_id").sort_values(["timestamp", "row_id"], kind="stable")
        self._frame = _dedup(df)
        df = self._frame
        self._ids = {row_identity(r) for r in df[list(ID_FIELDS)].to_dict("records")}

    def identities(self, refresh: bool = True) -> set[tuple[str, Context, BlockKey]]:
        self.frame(refresh=refresh)
        with self._lock:
            return set(self._ids)

    def has(self, context: Context, key: BlockKey, entry: str = ENTRY_LAYER) -> bool:
        with self._lock:
            if self._frame is None:
                self._load_new_parts()
            return (entry, context, key) in self._ids

    def contexts(self) -> list[Context]:
        return sorted({ctx for _, ctx, _ in self.identities()})

    # ---- writing
    def append(self, rows: Iterable[Mapping[str, object]]) -> Path | None:
        """Write ``rows`` as one new part file, atomically. Returns the part path (None if no rows)."""
        rows = [dict(r) for r in rows]
        if not rows:
            return None
        for r in rows:
            missing = [c for c in COLUMNS if c not in r]
            if missing:
                raise ValueError(f"LUT row misses columns {missing}")
        df = pd.DataFrame(rows, columns=list(COLUMNS))
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
        path = _atomic_write_parquet(df, self.root / name)
        with self._lock:
            if self._frame is not None:
                merged = (
                    pd.concat([self._frame, _typed(df)], ignore_index=True)
                    if len(self._frame)
                    else _typed(df)
                )
                self._frame = _dedup(merged)
                self._ids |= {row_identity(r) for r in df[list(ID_FIELDS)].to_dict("records")}
                self._seen_parts.add(path.name)
        return path

    def compact(self) -> Path | None:
        """Merge all parts into one (crash-safe: the merged part lands before the old ones go)."""
        with self._lock:
            self._load_new_parts()
            old = [self.root / n for n in sorted(self._seen_parts)]
            assert self._frame is not None
            if len(old) <= 1:
                return old[0] if old else None
            df = self._frame
        name = f"part-{time.time_ns():020d}-{os.getpid()}-compact.parquet"
        path = _atomic_write_parquet(df, self.root / name)
        with self._lock:
            for p in old:
                p.unlink(missing_ok=True)
                self._seen_parts.discard(p.name)
            self._seen_parts.add(path.name)
        return path

    def export_csv(self, path: str | Path) -> Path:
        """All rows as CSV (raw samples as a JSON list), for spreadsheets and other tools."""
        df = self.frame()
        df["samples_ms"] = [json.dumps(list(map(float, s))) for s in df["samples_ms"]]
        out = Path(path)
        tmp = out.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{out.name}")
        df.to_csv(tmp, index=False)
        os.replace(tmp, out)
        return out


def _dedup(df: pd.DataFrame) -> pd.DataFrame:
    """One row per identity. Measurements: the most re-measured row wins (a drift-reference
    re-measurement supersedes the measurement it repeats), then the earliest (two workers raced: a later
    collection never overwrites). Predictions: the latest wins (a refitted block model supersedes)."""
    pred = df["entry"] == ENTRY_PREDICTED
    measured = df[~pred].sort_values(
        ["remeasured", "timestamp", "row_id"], ascending=[False, True, True], kind="stable"
    )
    kept = pd.concat(
        [
            measured.drop_duplicates(list(ID_FIELDS), keep="first"),
            df[pred].drop_duplicates(list(ID_FIELDS), keep="last"),
        ]
    )
    return kept.sort_values(["timestamp", "row_id"], kind="stable").reset_index(drop=True)


_INT_COLUMNS = (
    "schema_version",
    "threads",
    "kernel",
    "in_ch",
    "mid_ch",
    "out_ch",
    "in_hw",
    "stride",
    "hidden_ch",
    "n",
    "remeasured",
)
_FLOAT_COLUMNS = ("timestamp", *STAT_FIELDS[1:], "ref_ms", "ref_ratio", "uncertainty")
_BOOL_COLUMNS = ("se", "unstable")


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Fixed column dtypes whatever the parts held (an empty store has the same dtypes as a full one)."""
    df = df.copy()
    for c in COLUMNS:
        if c in _INT_COLUMNS:
            df[c] = df[c].astype("int64")
        elif c in _FLOAT_COLUMNS:
            df[c] = df[c].astype("float64")
        elif c in _BOOL_COLUMNS:
            df[c] = df[c].astype("bool")
        elif c != "samples_ms":
            df[c] = df[c].astype("object")
    return df


def _atomic_write_parquet(df: pd.DataFrame, path: Path) -> Path:
    tmp = path.with_name(f".tmp-{path.name}")
    df.to_parquet(tmp, index=False)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def _read_part(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - any reader failure means a damaged file
        raise LUTStoreError(
            f"LUT part {path} is unreadable ({type(e).__name__}: {e}); move it out of the store to keep "
            "the other parts (its rows will be re-measured)"
        ) from e
    if "schema_version" not in df.columns:
        raise LUTStoreError(f"LUT part {path} has no schema_version column; it is not a PhoneNAS LUT part")
    if set(df["schema_version"].unique().tolist()) != {SCHEMA_VERSION}:
        df = migrate(df, path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise LUTStoreError(f"LUT part {path} lacks columns {missing}; it is not a PhoneNAS LUT part")
    return df[list(COLUMNS)]


# ---- schema migrations: version -> function turning rows of that version into the next one

# What a v1 runtime meant (v1 recorded no delegate; every runtime had exactly one LUT target). Frozen
# here on purpose: it is what those rows meant when they were written, whatever the registry says later.
V1_RUNTIME_DELEGATE: dict[str, tuple[str, str]] = {
    "executorch": ("executorch", "xnnpack"),
    "litert": ("litert", "xnnpack"),
    "onnx": ("onnxruntime", "cpu"),
    "coreml": ("coreml", "all"),
}


def migrate_v1_to_v2(df: pd.DataFrame, path: Path | None = None) -> pd.DataFrame:
    """v1 -> v2: every row gets the delegate its runtime implied (executorch -> xnnpack, ...) and ONNX
    rows the runtime's own name (``onnx`` -> ``onnxruntime``)."""
    unknown = sorted(set(df["runtime"]) - set(V1_RUNTIME_DELEGATE))
    if unknown:
        raise LUTStoreError(
            f"LUT part {path}: v1 rows with unknown runtime(s) {unknown}; cannot migrate them"
        )
    out = df.copy()
    out["delegate"] = [V1_RUNTIME_DELEGATE[r][1] for r in out["runtime"]]
    out["runtime"] = [V1_RUNTIME_DELEGATE[r][0] for r in out["runtime"]]
    out["schema_version"] = 2
    return out


def migrate_v2_to_v3(df: pd.DataFrame, path: Path | None = None) -> pd.DataFrame:
    """v2 -> v3 (drift reference + block model columns): rows measured before the reference existed
    are taken at the nominal speed (ratio 1, never re-measured) and are measured entries."""
    df = df.copy()
    df["ref_ms"] = float("nan")
    df["ref_ratio"] = 1.0
    df["remeasured"] = 0
    df["unstable"] = False
    df["source"] = SOURCE_MEASURED
    df["model_version"] = ""
    df["uncertainty"] = float("nan")
    df["schema_version"] = 3
    return df


MIGRATIONS: dict[int, Callable[[pd.DataFrame, Path | None], pd.DataFrame]] = {
    1: migrate_v1_to_v2,
    2: migrate_v2_to_v3,
}


def migrate(df: pd.DataFrame, path: Path | None = None) -> pd.DataFrame:
    """Rows of any older schema version, brought to :data:`SCHEMA_VERSION` one step at a time; a
    version this PhoneNAS cannot read is a :class:`LUTStoreError` naming the part."""
    versions = {int(v) for v in df["schema_version"].unique().tolist()}
    if any(v > SCHEMA_VERSION or (v < SCHEMA_VERSION and v not in MIGRATIONS) for v in versions):
        raise LUTStoreError(
            f"LUT part {path} has schema version(s) {sorted(versions)}, this PhoneNAS reads "
            f"{sorted(MIGRATIONS)} and {SCHEMA_VERSION}; "
            "upgrade PhoneNAS or re-collect into a new store directory"
        )
    groups = []
    for version, group in df.groupby("schema_version", sort=True):
        v = int(version)
        while v < SCHEMA_VERSION:
            group = MIGRATIONS[v](group, path)
            v += 1
        groups.append(group)
    return pd.concat(groups, ignore_index=True) if len(groups) > 1 else groups[0].reset_index(drop=True)


def migrate_corrections_v1_to_v2(root: Path) -> list[Path]:
    """Copy every v1 correction file (named by the digest of a v1 context) to the name of its v2
    context; the old files stay. Returns the files written."""
    from latency.correction import Correction

    written = []
    for old in sorted((Path(root) / "corrections").glob("*.json")):
        try:
            payload = json.loads(old.read_text())
            row = dict(payload["context"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours to judge here; Correction.load reports damaged files
        if "delegate" in row or row.get("runtime") not in V1_RUNTIME_DELEGATE:
            continue
        row["runtime"], row["delegate"] = V1_RUNTIME_DELEGATE[row["runtime"]]
        try:
            context = Context(**row)
        except (TypeError, ValueError) as e:
            log.warning("correction %s: cannot migrate its context (%s)", old.name, e)
            continue
        new = Correction.path(root, context)
        if new.exists():
            continue
        payload["context"] = context.as_row()
        tmp = new.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{new.name}")
        tmp.write_text(json.dumps(payload, indent=1))
        os.replace(tmp, new)
        written.append(new)
        log.info("migrated correction %s -> %s", old.name, new.name)
    return written
