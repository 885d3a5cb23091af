"""Ultralytics training, offline, with augmentations that are right for digits.

No flips (a mirrored 2 is a 5); mosaic, HSV and scale jitter stay on. Nothing is downloaded:
YOLO_OFFLINE is set, models are built from a yaml or loaded from a local .pt, plots (which fetch
a font) are off, and the AMP self-check (which fetches yolo26n.pt) is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge.detect import INPUT_SIZES
from edge.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "yolov5n.yaml"
MIN_SIZE, MAX_SIZE = INPUT_SIZES  # training and crop sizes: the input sides the reader may ask of a model


@dataclass
class TrainSettings:
    """What the card records about a training run."""

    model: str = DEFAULT_MODEL
    epochs: int = 100
    minutes: float | None = None
    imgsz: int = 128
    crop_size: int | None = None  # the reader's display-crop size [default: imgsz]; stored in the ONNX
    batch: int = 32
    device: str = "auto"
    workers: int = 2
    patience: int = 50
    seed: int = 0
    lr0: float | None = None  # a gentle fine-tune: SGD at this rate, no warm-up [default: Ultralytics' own choice]
    augment: dict = field(
        default_factory=lambda: {
            "fliplr": 0.0, "flipud": 0.0, "mosaic": 1.0, "scale": 0.5,
            "translate": 0.1, "degrees": 3.0, "hsv_h": 0.015, "hsv_s": 0.5, "hsv_v": 0.5,
        }
    )

    @property
    def read_size(self) -> int:
        """The size the reader feeds the model a display crop at."""
        return self.crop_size or self.imgsz

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        """Stop on a setting Ultralytics would take in another sense, before any work: it reads a
        time of 0 minutes as no time limit at all, and trains and records imgsz 0 or batch 0 as
        given. The command line bounds its options the same way; this holds for the library."""
        bounds = [
            ("--minutes", self.minutes, self.minutes is None or self.minutes > 0, "more than 0"),
            ("--epochs", self.epochs, self.epochs >= 1, "1 or more"),
            ("--imgsz", self.imgsz, MIN_SIZE <= self.imgsz <= MAX_SIZE, f"{MIN_SIZE} to {MAX_SIZE}"),
            ("--crop-size", self.crop_size, self.crop_size is None or MIN_SIZE <= self.crop_size <= MAX_SIZE,
             f"{MIN_SIZE} to {MAX_SIZE}"),
            ("--batch", self.batch, self.batch >= 1, "1 or more"),
            ("--workers", self.workers, self.workers >= 0, "0 or more"),
            ("--lr0", self.lr0, self.lr0 is None or self.lr0 > 0, "more than 0"),
        ]
        for option, value, ok, want in bounds:
            if not ok:
                raise ConfigError(f"{option} {value}: must be {want}")


@dataclass(frozen=True)
class TrainResult:
    best_pt: Path
    run_dir: Path
    device: str
    device_name: str
    epochs_done: int
    minutes: float


def offline() -> None:
    """Call before importing ultralytics: never reach the network."""
    os.environ["YOLO_OFFLINE"] = "1"


def resolve_device(device: str = "auto") -> tuple[str, str]:
    """'auto' | 'cuda' | 'cpu' -> (Ultralytics device string, human-readable name)."""
    import torch

    if device not in ("auto", "cuda", "cpu"):
        raise ModelError(f"unknown device {device!r}; choose cuda, cpu or auto")
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return "0", torch.cuda.get_device_name(0)
    if device == "cuda":
        raise ModelError("--device cuda: torch sees no CUDA GPU here")
    import platform

    return "cpu", f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


@contextlib.contextmanager
def _no_amp_download():
    """Ultralytics' AMP check downloads yolo26n.pt; trust AMP on CUDA instead of checking."""
    import ultralytics.engine.trainer as trainer_module

    original = trainer_module.check_amp
    trainer_module.check_amp = lambda model: next(model.parameters()).device.type == "cuda"
    try:
        yield
    finally:
        trainer_module.check_amp = original


def load_model(weights: str):
    """The Ultralytics model built from a yaml or loaded from a .pt; a file that is no checkpoint
    (empty, cut short, something else renamed) is one line naming it, not Ultralytics' traceback."""
    offline()
    from ultralytics import YOLO

    if weights.endswith(".pt") and not Path(weights).is_file():
        raise ModelError(f"parent model weights not found: {weights}")
    try:
        return YOLO(weights, task="detect")
    except Exception as exc:  # Ultralytics raises TypeError, RuntimeError or pickle's errors here
        raise ModelError(f"{weights}: not loadable as YOLO weights: empty, cut short or no checkpoint "
                         f"({type(exc).__name__})") from None


def train(data_yaml: Path, run_dir: Path, settings: TrainSettings) -> TrainResult:
    """Train (from a yaml, or fine-tune a .pt) on `data_yaml`; results land in `run_dir`."""
    settings.check()
    device, device_name = resolve_device(settings.device)
    model = load_model(settings.model)
    log.info("training %s on %s for %s", settings.model, device_name,
             f"{settings.minutes} min" if settings.minutes else f"{settings.epochs} epochs")
    run_dir = Path(run_dir)
    # Ultralytics' own optimizer choice ignores lr0, and its warm-up starts the biases at 0.1,
    # which would undo what a fine-tune at a small rate keeps of its parent.
    rate = {"optimizer": "SGD", "lr0": settings.lr0, "warmup_epochs": 0} if settings.lr0 else {}
    start = time.monotonic()
    with _no_amp_download():
        model.train(
            data=str(data_yaml),
            project=str(run_dir.parent.resolve()),
            name=run_dir.name,
            exist_ok=True,
            epochs=settings.epochs,
            time=settings.minutes / 60 if settings.minutes is not None else None,
            imgsz=settings.imgsz,
            batch=settings.batch,
            device=device,
            workers=settings.workers,
            patience=settings.patience,
            seed=settings.seed,
            deterministic=False,
            amp=device != "cpu",
            plots=False,
            verbose=True,
            **rate,
            **settings.augment,
        )
    minutes = (time.monotonic() - start) / 60
    trainer = model.trainer
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    if not best.is_file():
        raise ModelError(f"training finished without weights in {trainer.save_dir}")
    return TrainResult(best, Path(trainer.save_dir), device, device_name, int(trainer.epoch) + 1, round(minutes, 2))
