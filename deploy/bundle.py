"""Bundles: one directory per phone/runtime with artifacts, reference data and ``manifest.json``.

``manifest.json`` records the arch, input shape/layout/normalization, labels, runtime and toolchain
versions, per-artifact checks (numerics, predicted and measured latency, accuracy) and the sha256 and
size of every other file in the bundle. :func:`verify_bundle` re-checks hashes first (a corrupt or
truncated file is named in one line) and then re-runs every artifact that runs on this machine against
the stored reference logits (``reference.npz``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deploy.registry import get_target
from deploy.types import Dtype, VerificationError
from deploy.verify import ArtifactCheck, verify_artifact

MANIFEST = "manifest.json"
REFERENCE = "reference.npz"
SCHEMA_VERSION = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_files(bundle_dir: Path) -> dict[str, dict]:
    """``{relative path: {sha256, size_bytes}}`` of every file under ``bundle_dir`` except the manifest."""
    out = {}
    for p in sorted(bundle_dir.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            out[p.relative_to(bundle_dir).as_posix()] = {
                "sha256": sha256_file(p),
                "size_bytes": p.stat().st_size,
            }
    return out


def write_reference(
    bundle_dir: Path, inputs: np.ndarray, logits: np.ndarray, labels: np.ndarray | None
) -> None:
    arrays: dict[str, np.ndarray] = {"inputs": inputs.astype(np.float32), "logits": logits.astype(np.float32)}
    if labels is not None:
        arrays["labels"] = labels.astype(np.int64)
    np.savez_compressed(bundle_dir / REFERENCE, **arrays)  # type: ignore[arg-type]


def write_manifest(bundle_dir: Path, manifest: dict) -> Path:
    """Hash every file and write ``manifest.json`` (call last, after all artifacts are in place)."""
    manifest = {"schema_version": SCHEMA_VERSION, **manifest, "files": hash_files(bundle_dir)}
    path = bundle_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return path


def read_manifest(bundle_dir: Path) -> dict:
    path = bundle_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise VerificationError(
            f"{bundle_dir}: no {MANIFEST}; pass a bundle directory written by `phonenas deploy`"
        ) from None
    except json.JSONDecodeError as e:
        raise VerificationError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}); the manifest is corrupt"
        ) from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise VerificationError(
            f"{path}: schema_version {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        )
    return manifest


def check_integrity(bundle_dir: Path, manifest: dict) -> None:
    """Raise a one-line :class:`VerificationError` naming the first missing, truncated or modified file."""
    for rel, meta in manifest["files"].items():
        p = bundle_dir / rel
        if not p.is_file():
            raise VerificationError(
                f"{p}: missing from the bundle; re-run `phonenas deploy` or restore the file"
            )
        size = p.stat().st_size
        if size != meta["size_bytes"]:
            kind = "truncated" if size < meta["size_bytes"] else "grew"
            raise VerificationError(
                f"{p}: {kind} ({size} bytes, manifest says {meta['size_bytes']}); the copy is corrupt - "
                "re-copy or re-run `phonenas deploy`"
            )
        digest = sha256_file(p)
        if digest != meta["sha256"]:
            raise VerificationError(
                f"{p}: sha256 mismatch ({digest[:12]}... vs manifest {meta['sha256'][:12]}...); "
                "the file is corrupt or was modified after bundling - re-copy or re-run `phonenas deploy`"
            )


@dataclass
class BundleReport:
    path: Path
    target: str
    checks: list[ArtifactCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)


def find_bundles(path: Path) -> list[Path]:
    """``path`` itself if it holds a manifest, else its immediate sub-directories that do."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return [path]
    if not path.is_dir():
        raise VerificationError(f"{path}: no such bundle directory")
    found = sorted(p for p in path.iterdir() if (p / MANIFEST).is_file())
    if not found:
        raise VerificationError(
            f"{path}: no {MANIFEST} here or in its sub-directories; pass a `phonenas deploy` output"
        )
    return found


def verify_bundle(bundle_dir: Path, threads: int = 1, time_it: bool = False) -> BundleReport:
    """Hashes, then numerics of every artifact that runs here (others: ``unavailable`` with the reason)."""
    bundle_dir = Path(bundle_dir)
    manifest = read_manifest(bundle_dir)
    check_integrity(bundle_dir, manifest)
    target = get_target(manifest["target"])
    ref = np.load(bundle_dir / manifest["reference"]["file"])
    labels = ref["labels"] if "labels" in ref.files else None
    report = BundleReport(bundle_dir, target.name)
    for art in manifest["artifacts"]:
        report.checks.append(
            verify_artifact(
                target,
                Dtype(art["dtype"]),
                bundle_dir / art["file"],
                ref["inputs"],
                ref["logits"],
                labels,
                threads=threads,
                time_it=time_it,
            )
        )
    return report
