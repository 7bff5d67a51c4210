"""Datasets for search, training and calibration: bundled digits, an ImageFolder, or CIFAR.

The default is scikit-learn's bundled handwritten digits (``sklearn.datasets.load_digits``: 1797 real
8x8 grey images, 10 classes, no download) upsampled to ``size`` x ``size`` and normalised. Every source
is split deterministically by ``seed`` into

* ``train`` - weights of the supernet / a model,
* ``arch``  - the held-out split the architecture logits are trained on (DMaskingNAS/FBNet),
* ``val``   - model selection, early stopping,
* ``test``  - final accuracy, never seen by the search,

plus ``trainval`` = ``train`` + ``arch`` (what a derived model trains on from scratch).

Users with data pass a folder (torchvision ImageFolder layout: one sub-folder per class; if it holds
``train/`` and ``val/`` sub-folders those are used) or ``cifar10:<root>`` / ``cifar100:<root>`` (an
already downloaded torchvision CIFAR root; nothing is downloaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

Split = Literal["train", "arch", "trainval", "val", "test"]
SPLITS: tuple[str, ...] = ("train", "arch", "trainval", "val", "test")

# fractions of each source that go to (train, arch, val); the rest is test
_FRACTIONS = (0.55, 0.15, 0.10)
# mean / std of load_digits pixels scaled to [0, 1] (all 1797 images, 8x8); upsampling keeps them close
DIGITS_MEAN = 0.3050
DIGITS_STD = 0.3759
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DataError(ValueError):
    """A data source that cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True)
class DataSpec:
    """Which data to use: ``"digits"`` (bundled), ``"cifar10:<root>"``, ``"cifar100:<root>"`` or a
    folder path."""

    source: str = "digits"
    size: int = 32
    channels: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 8:
            raise DataError(f"image size must be >= 8, got {self.size}")
        if self.channels not in (1, 3):
            raise DataError(f"channels must be 1 or 3, got {self.channels}")


@dataclass(frozen=True)
class DataBundle:
    """All splits of one source plus what a model needs to know about them."""

    name: str
    num_classes: int
    channels: int
    size: int
    splits: dict[str, Dataset]

    def split(self, name: str) -> Dataset:
        if name not in self.splits:
            raise DataError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return self.splits[name]

    def loader(
        self, split: str, batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False
    ) -> DataLoader:
        return make_loader(self.split(split), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)

    def calibration_inputs(self, n: int = 32) -> Tensor:
        """``n`` (or fewer) real input images from the train split, stacked (for PT2E calibration)."""
        ds = self.split("train")
        n = min(n, len(ds))  # type: ignore[arg-type]
        return torch.stack([ds[i][0] for i in range(n)])


def make_loader(
    ds: Dataset, batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False
) -> DataLoader:
    """A single-process DataLoader whose shuffle order depends only on ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        ds, batch_size=batch_size, shuffle=shuffle, generator=gen, drop_last=drop_last, num_workers=0
    )


def _split_indices(labels: Tensor, seed: int) -> dict[str, Tensor]:
    """Stratified deterministic split of indices into train/arch/val/test (every class in every split)."""
    gen = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {k: [] for k in ("train", "arch", "val", "test")}
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n = len(idx)
        n_train, n_arch, n_val = (max(1, round(f * n)) for f in _FRACTIONS)
        bounds = [0, n_train, n_train + n_arch, n_train + n_arch + n_val, n]
        for name, lo, hi in zip(("train", "arch", "val", "test"), bounds[:-1], bounds[1:], strict=True):
            parts[name].append(idx[lo:hi])
    out = {k: torch.sort(torch.cat(v)).values for k, v in parts.items()}
    out["trainval"] = torch.sort(torch.cat([out["train"], out["arch"]])).values
    return out


def _digits_tensors(size: int, channels: int) -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # N,1,8,8 in [0,1]
    if size != 8:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x - DIGITS_MEAN) / DIGITS_STD
    if channels == 3:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return x, torch.tensor(d.target, dtype=torch.long)


def digits_dataset(split: str = "train", size: int = 32, channels: int = 3, seed: int = 0) -> TensorDataset:
    """One split of the bundled handwritten digits as a TensorDataset of (N,C,size,size) float, (N,) long."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    x, y = _digits_tensors(size, channels)
    idx = _split_indices(y, seed)[split]
    return TensorDataset(x[idx], y[idx])


def digits(size: int = 32, channels: int = 3, seed: int = 0) -> DataBundle:
    x, y = _digits_tensors(size, channels)
    splits: dict[str, Dataset] = {k: TensorDataset(x[v], y[v]) for k, v in _split_indices(y, seed).items()}
    return DataBundle("digits", 10, channels, size, splits)


def _image_transform(size: int, channels: int):  # noqa: ANN202 - torchvision transform
    from torchvision import transforms as T

    steps = [T.Resize(size), T.CenterCrop(size)]
    if channels == 1:
        steps += [T.Grayscale(1), T.ToTensor(), T.Normalize((0.5,), (0.5,))]
    else:
        steps += [
            T.Lambda(lambda im: im.convert("RGB")),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    return T.Compose(steps)


def image_folder(path: str | Path, size: int = 224, channels: int = 3, seed: int = 0) -> DataBundle:
    """An ImageFolder (one sub-folder per class). With ``train/`` and ``val/`` inside, ``val/`` is the test
    split and ``train/`` is divided into train/arch/val; otherwise the whole folder is split by ``seed``."""
    from torchvision.datasets import ImageFolder

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data folder {str(root)!r} does not exist; pass 'digits' or a folder with one "
            "sub-folder of images per class"
        )
    tf = _image_transform(size, channels)
    has_tv = (root / "train").is_dir() and (root / "val").is_dir()
    try:
        full = ImageFolder(str(root / "train" if has_tv else root), transform=tf)
        test_ds = ImageFolder(str(root / "val"), transform=tf) if has_tv else None
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(f"{root}: not an image folder ({e}); expected <root>/<class>/<image>.jpg") from None
    labels = torch.tensor(full.targets, dtype=torch.long)
    idx = _split_indices(labels, seed)
    splits: dict[str, Dataset] = {k: Subset(full, v.tolist()) for k, v in idx.items()}
    if test_ds is not None:
        splits["test"] = test_ds
    return DataBundle(f"folder:{root.name}", len(full.classes), channels, size, splits)


def cifar(
    root: str | Path, num_classes: int = 10, size: int = 32, channels: int = 3, seed: int = 0
) -> DataBundle:
    """CIFAR-10/100 from an existing torchvision root (``download=False``): its test set is ``test``."""
    from torchvision import datasets

    cls = {10: datasets.CIFAR10, 100: datasets.CIFAR100}[num_classes]
    tf = _image_transform(size, channels)
    try:
        train = cls(str(root), train=True, download=False, transform=tf)
        test = cls(str(root), train=False, download=False, transform=tf)
    except RuntimeError as e:
        raise DataError(
            f"CIFAR-{num_classes} not found under {str(root)!r} ({e}); download it with "
            f"torchvision.datasets.CIFAR{num_classes}(root, download=True) first"
        ) from None
    labels = torch.tensor(train.targets, dtype=torch.long)
    idx = _split_indices(labels, seed)
    splits: dict[str, Dataset] = {k: Subset(train, v.tolist()) for k, v in idx.items() if k != "test"}
    splits["test"] = test
    return DataBundle(f"cifar{num_classes}", num_classes, channels, size, splits)


def load_data(
    spec: DataSpec | str = "digits",
    *,
    size: int | None = None,
    channels: int | None = None,
    seed: int | None = None,
) -> DataBundle:
    """Resolve a data name or path into a :class:`DataBundle` (``"digits"`` is the bundled default)."""
    if isinstance(spec, str):
        spec = DataSpec(spec)
    if size is not None or channels is not None or seed is not None:
        spec = DataSpec(
            spec.source, size or spec.size, channels or spec.channels, spec.seed if seed is None else seed
        )
    src = spec.source.strip()
    if src == "digits":
        return digits(spec.size, spec.channels, spec.seed)
    for prefix, n in (("cifar10:", 10), ("cifar100:", 100)):
        if src.startswith(prefix):
            return cifar(src[len(prefix) :], n, spec.size, spec.channels, spec.seed)
    if src in ("cifar10", "cifar100"):
        raise DataError(f"{src!r} needs a root: pass '{src}:/path/to/torchvision/root'")
    return image_folder(src, spec.size, spec.channels, spec.seed)
