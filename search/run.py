"""One search run as a library call: what ``phonenas search run`` does, minus options and display.

:class:`SearchRunConfig` holds the settings; :func:`prepare` loads the space and the data once;
:func:`run_job` searches for one :class:`SearchJob` (a cost model, an optional target and an output
folder), writes ``arch.json`` and ``search.json`` (and ``model.pt`` when training) and returns them.
The caller (the CLI) turns a LUT store into jobs, since ``search`` never imports ``latency``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from search.arch import arch_to_json
from search.cost import CostModel
from search.data import DataBundle, load_data
from search.loop import EpochStats, SearchConfig, SearchResult, TrainResult, run_search, train_dense
from search.loss import SearchLoss
from search.space import SearchSpace, get_space


@dataclass(frozen=True)
class SearchRunConfig:
    """Settings of ``phonenas search run`` that do not depend on the cost model."""

    space: str = "digits"
    data: str = "digits"
    loss: str = "target"  # target: CE + lam * relu(cost / target - 1); fbnet: CE * a * log(cost / ref)^b
    lam: float = 2.0
    epochs: int = 20
    batch_size: int = 64
    tau_end: float = 0.2
    tau_decay: float | None = None
    train_epochs: int = 0
    finetune: bool = False
    seed: int = 0
    resolution: str = "sample"
    tolerance: float = SearchConfig.tolerance  # the derived child's cost within +-this of the target

    def search_loss(self, target: float | None) -> SearchLoss:
        """Raises :class:`search.loss.LossError` for a bad loss / target combination."""
        return SearchLoss(self.loss, target=target, lam=self.lam, ref=None if self.loss == "fbnet" else 1.0)  # type: ignore[arg-type]

    def search_config(self, target: float | None) -> SearchConfig:
        return SearchConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            tau_final=self.tau_end,
            tau_decay=self.tau_decay,
            loss=self.search_loss(target),
            seed=self.seed,
            resolution=self.resolution,
            tolerance=self.tolerance,
        )


@dataclass(frozen=True)
class SearchJob:
    """One search: its cost model, target (in the model's unit), output folder and LUT context row."""

    label: str
    cost_model: CostModel
    target: float | None
    out_dir: Path
    context: dict[str, Any] | None = None


@dataclass
class SearchRunOutput:
    result: SearchResult
    payload: dict[str, Any]
    arch_path: Path
    search_path: Path
    train: TrainResult | None = field(default=None, repr=False)


def prepare(cfg: SearchRunConfig) -> tuple[SearchSpace, DataBundle]:
    """The space and the data at the space's largest resolution (raises SpaceError / DataError)."""
    space = get_space(cfg.space)
    return space, load_data(cfg.data, size=max(space.resolutions), seed=cfg.seed)


def run_job(
    cfg: SearchRunConfig,
    space: SearchSpace,
    bundle: DataBundle,
    job: SearchJob,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> SearchRunOutput:
    """Search (resuming from ``out_dir/checkpoint.pt``), write the arch and the report, optionally train."""
    search_cfg = cfg.search_config(job.target)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = run_search(
        space, bundle, job.cost_model, search_cfg, job.out_dir / "checkpoint.pt", on_step, on_epoch
    )
    payload = result.to_dict() | {
        "device": job.label,
        "context": job.context,
        "space": space.name,
        "data": bundle.name,
        "seed": cfg.seed,
        "search_s": time.perf_counter() - t0,
        "config": asdict(search_cfg) | {"loss": asdict(search_cfg.loss)},
    }
    arch_path = job.out_dir / "arch.json"
    arch_path.write_text(arch_to_json(result.arch) + "\n")
    trained = None
    if cfg.train_epochs > 0:
        trained = train_dense(
            result.arch,
            _data_for(result.arch.input_hw, cfg, bundle),
            cfg.train_epochs,
            cfg.seed,
            init=result.supernet if cfg.finetune else None,
            init_choices=result.choices,
        )
        torch.save(trained.model.state_dict(), job.out_dir / "model.pt")
        payload |= {
            "train_epochs": cfg.train_epochs,
            "finetune": cfg.finetune,
            "val_acc": trained.val_acc,
            "test_acc": trained.test_acc,
        }
    search_path = job.out_dir / "search.json"
    search_path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return SearchRunOutput(result, payload, arch_path, search_path, trained)


def _data_for(input_hw: int, cfg: SearchRunConfig, bundle: DataBundle) -> DataBundle:
    """The data at the arch's own resolution (digits are re-rendered from 8x8, not resized twice)."""
    if bundle.size == input_hw:
        return bundle
    return load_data(cfg.data, size=input_hw, seed=cfg.seed)
