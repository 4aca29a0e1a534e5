"""`RunTrainer`: what a supernet run and a fixed-architecture run share.

Process setup (distributed group, threads, determinism, seeds), the data stream and fixed validation
crops, Adam + halving schedule, the run directory (start / resume / refuse), checkpoints with every
state needed to continue bit-identically, log.csv + TensorBoard, and the step loop with progress.
Subclasses provide the model, one training step, validation and their extra checkpoint state.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

import numpy as np
import torch

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.presets import Preset
from dcnas_deploy.train.batches import Batch, TrainStream, check_sample_bands, open_split, validation_batches
from dcnas_deploy.train.distributed import Dist, init_distributed
from dcnas_deploy.train.loop import Progress, Timer, make_optimizer, make_scheduler, run_steps, setup_torch
from dcnas_deploy.train.rundir import CsvLog, Events, RunDir, capture_rng, restore_rng, seed_everything


def validation_set(preset: Preset, device: torch.device | str = "cpu") -> List[Batch]:
    """The preset's fixed validation crops, on `device` (the search's fitness uses the same crops)."""
    d, s = preset.data, preset.space
    ds = open_split(d.val_spec or d.spec, d.val_split, "validation")
    return [b.to(torch.device(device)) for b in
            validation_batches(ds, d.val_crops, d.val_patch or d.patch_size, s.scale, d.norm, d.val_batch,
                               preset.training.seed, d.noise_level, d.real_lr)]


_M = TypeVar("_M", bound=torch.nn.Module)


def zero_head(net: _M, enabled: bool = True, scale: float = 0.0) -> _M:
    """Zero the output conv (or scale its default init by `scale`): every path then starts as (nearly) lr_up.

    Measured on the demo preset (one fixed architecture, 300 steps): default init ended at val L1 0.0348,
    worse than bicubic (0.0332); zero init started at bicubic and ended at 0.0313. An exactly zero head is
    a saddle for a supernet (the body's gradient is proportional to the head's weights, which random paths
    keep near zero); `scale` starts off it, but at ×4 that did not leave the plateau either (README, Search).
    """
    head = getattr(net, "head", None)
    if enabled and head is not None:
        with torch.no_grad():
            head.weight.mul_(scale)
            head.bias.mul_(scale)
    return net


def check_data(preset: Preset) -> None:
    """Open the training and validation splits so that a spec that doesn't resolve fails before any write."""
    d, s = preset.data, preset.space
    for spec, split, what in ((d.spec, d.train_split, "training"), (d.val_spec or d.spec, d.val_split, "validation")):
        check_sample_bands(open_split(spec, split, what), s.target_channels, s.guide_channels, f"{what} data {spec!r}")


class RunTrainer:
    """Base class; subclasses set `kind` and `log_fields` and implement the hooks below."""

    kind = "run"
    log_fields: Sequence[str] = ("step", "loss", "lr", "elapsed_s")

    def __init__(self, preset: Preset, out: Path | str, resume: bool = False, *, total_steps: int, lr: float,
                 lr_halve_every: int, progress: bool = True, prepared: bool = False,
                 on_step: Optional[Callable[[int], None]] = None):
        self.preset, self.run, self.on_step, self.show_progress = preset, RunDir(out), on_step, progress
        self.total = int(total_steps)
        tr, d = preset.training, preset.data
        self.dist: Dist = init_distributed(tr.device)
        self.device = self.dist.device
        setup_torch(tr.threads, tr.deterministic)
        seed_everything(tr.seed)
        self.seed = tr.seed
        self.space = preset.make_space()
        train_ds = open_split(d.spec, d.train_split, "training", d.cache_samples)
        self.stream = TrainStream(train_ds, d.batch_size, d.patch_size, self.space.scale, d.norm, tr.seed,
                                  d.noise_level, d.augment, d.real_lr, self.dist.rank, self.dist.world)
        self.val = validation_set(preset, self.device)
        self.setup()
        if self.dist.is_main and not prepared:
            self.run.prepare(preset, resume, self.kind)
        self.dist.barrier()
        torch.manual_seed(tr.seed)  # same initial weights on every rank and every start
        self.resuming = resume  # build_model need not fetch starting weights the checkpoint replaces
        self.net = self.build_model().to(self.device)
        self.ddp = None
        if self.dist.enabled and tr.ddp == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            # the supernet's other paths get no gradients this step; its only buffer (the bicubic taps) is constant
            self.ddp = DistributedDataParallel(self.net, find_unused_parameters=True, broadcast_buffers=False,
                                               device_ids=[self.device] if self.device.type == "cuda" else None)
        if tr.amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("training.amp: fp16 needs a CUDA device (loss scaling); use bf16 on a CPU")
        self.scaler = torch.amp.GradScaler("cuda") if tr.amp == "fp16" else None
        self.opt = make_optimizer(self.net.parameters(), lr, tr.betas, tr.eps)
        self.sched = make_scheduler(self.opt, lr_halve_every)
        self.start, self.elapsed_before = 0, 0.0
        self.val_start: Dict[str, float] = {}
        self.last_val: Dict[str, float] = {}
        if resume:
            self._restore(self.run.load_checkpoint())
        self.log = CsvLog(self.run.log_path, self.log_fields)
        self._window: List[float] = []
        self._pending: Dict[str, Any] = {}

    # ---- hooks --------------------------------------------------------------------------------
    def setup(self) -> None:
        """Extra setup before the model is built (costs, samplers)."""

    def build_model(self) -> torch.nn.Module:
        """The module to train, initialised (a resume then loads the checkpoint's weights into it)."""
        raise NotImplementedError

    def train_step(self, step: int) -> Dict[str, Any]:
        """One step; returns at least {'loss', 'lr'}."""
        raise NotImplementedError

    def validate(self) -> Dict[str, float]:
        """Validation numbers keyed by their log.csv column names 'val*' (collective: every rank calls it)."""
        raise NotImplementedError

    def extra_state(self) -> Dict[str, Any]:
        """Subclass state for the checkpoint."""
        return {}

    def load_extra_state(self, ckpt: Dict[str, Any]) -> None:
        """Inverse of extra_state."""

    def check_checkpoint(self, ckpt: Dict[str, Any]) -> None:
        """Raise ConfigError when a checkpoint to resume does not belong to this run's settings."""

    def on_checkpoint(self, done: int) -> None:
        """Called on rank 0 after each checkpoint (write side files)."""

    def before_run(self) -> None:
        """Called on every rank before the first step of this segment."""

    # ---- helpers for subclasses -------------------------------------------------------------------
    def autocast(self) -> Any:
        """Context for the training forward pass: autocast in training.amp's dtype, or nothing when off."""
        import contextlib

        amp = self.preset.training.amp
        if amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)

    def optimise(self, loss: torch.Tensor) -> None:
        """Backward, average gradients over ranks, clip, Adam step (skip when nothing is trainable)."""
        self.opt.zero_grad(set_to_none=True)
        if not loss.requires_grad:
            return
        scaler = self.scaler
        (scaler.scale(loss) if scaler is not None else loss).backward()
        if self.ddp is None:
            self.dist.average_grads(self.net.parameters())
        if scaler is not None:
            scaler.unscale_(self.opt)
        clip = self.preset.training.grad_clip
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip)
        if scaler is not None:
            scaler.step(self.opt)
            scaler.update()
        else:
            self.opt.step()

    @property
    def model(self) -> torch.nn.Module:
        """The module to call in training (the DDP wrapper when one is used)."""
        return self.ddp if self.ddp is not None else self.net

    # ---- checkpoint ----------------------------------------------------------------------------
    def _restore(self, ckpt: Dict[str, Any]) -> None:
        self.check_checkpoint(ckpt)
        self.net.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        restore_rng(ckpt["rng"])
        self.start = int(ckpt["step"])
        self.val_start, self.last_val = dict(ckpt.get("val_start", {})), dict(ckpt.get("val", {}))
        self.elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        self.load_extra_state(ckpt)

    def _checkpoint(self, done: int) -> None:
        if not self.dist.is_main:
            return
        self.run.save_checkpoint({
            "kind": self.kind, "step": done, "model": self.net.state_dict(), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(), "rng": capture_rng(), "preset": self.preset.to_dict(),
            "val": self.last_val, "val_start": self.val_start, "elapsed_s": self.timer.elapsed(),
            "world": self.dist.world, **self.extra_state()})
        self.on_checkpoint(done)

    # ---- logging ---------------------------------------------------------------------------------
    def _is_checkpoint(self, done: int) -> bool:
        return done % self.preset.training.checkpoint_every == 0 or done == self.total

    def _after_step(self, done: int, row: Dict[str, Any]) -> None:
        self._window.append(row["loss"])
        pending, self._pending = self._pending, {}
        validated = self._is_checkpoint(done)
        if validated:
            self.last_val = self.validate()
        # log only on conditions every rank agrees on: the loss average below is a collective
        if not (done % self.preset.training.log_every == 0 or validated or pending.pop("force_log", False)):
            return
        loss = float(self.dist.sum_array(np.array([np.mean(self._window)]))[0] / self.dist.world)
        self._window = []
        if not self.dist.is_main:
            return
        full = {**row, **pending, "step": done, "loss": loss, "elapsed_s": self.timer.elapsed()}
        if validated:
            full.update(self.last_val)
        self.log.append(full)
        self.events.scalars(done, {k: v for k, v in full.items() if k not in ("step", "elapsed_s")
                                   and not k.startswith("val")}, "train/")
        if validated:
            self.events.scalars(done, self.last_val, "val/")

    def run_training(self):
        """Train from the current step to the total, checkpointing as configured; returns a summary dict."""
        self.timer = Timer(self.elapsed_before)
        if self.dist.is_main:
            self.log.truncate(self.start)
        self.events = Events(self.run.path, purge_step=self.start or None, enabled=self.dist.is_main)
        try:
            self.before_run()
            if self.start == 0:
                self.val_start = self.last_val = self.validate()
                if self.dist.is_main:
                    self.log.append({"step": 0, "elapsed_s": 0.0, **self.val_start})
                    self.events.scalars(0, self.val_start, "val/")
            done = self.start
            if self.start < self.total:
                progress = Progress(self.dist.is_main and self.show_progress, self.kind, self.total, self.start)
                done = run_steps(self.dist, self.start, self.total, self.train_step, after_step=self._after_step,
                                 checkpoint=self._checkpoint, checkpoint_every=self.preset.training.checkpoint_every,
                                 progress=progress, on_step=self.on_step)
            return {"run_dir": self.run.path, "steps": done, "val_start": self.val_start, "val_end": self.last_val,
                    "elapsed_s": self.timer.elapsed()}
        finally:
            self.events.close()
