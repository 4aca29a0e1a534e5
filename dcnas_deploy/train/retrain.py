"""Training one fixed architecture (`dcnas-deploy train --arch`), from scratch or from supernet weights.

Same run-directory machinery as the supernet (checkpoint/resume/log/progress/DDP); uses the preset's
`retrain` section for length and learning rate (the paper retrains with the supernet's settings).
The finished model is saved with model.checkpoint.save_model to run_dir/model.pt, with meta
{norm, scale, data, preset, steps, init, val_l1, val_rmse} (val in normalised units).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional


from dcnas_deploy.errors import ConfigError
from dcnas_deploy.model import SubNet
from dcnas_deploy.presets import Preset
from dcnas_deploy.space import Arch
from dcnas_deploy.train.distributed import launch
from dcnas_deploy.train.evaluate import evaluate_model, masked_l1
from dcnas_deploy.train.rundir import RunDir
from dcnas_deploy.train.trainer import RunTrainer, check_data, zero_head

INITS = ("scratch", "supernet")


class ArchTrainer(RunTrainer):
    """One process of a fixed-architecture run."""

    kind = "arch"
    log_fields = ("step", "loss", "lr", "val_l1", "val_rmse", "elapsed_s")

    def __init__(self, arch: Arch, preset: Preset, out: Path | str, resume: bool = False, *, init: str = "scratch",
                 supernet: Optional[Path | str] = None, **kw):
        check_inputs(arch, preset, init, supernet)
        self.arch, self.init, self.supernet = arch, init, supernet
        rt = preset.retrain
        super().__init__(preset, out, resume, total_steps=rt.steps, lr=rt.lr, lr_halve_every=rt.lr_halve_every, **kw)

    def build_model(self) -> SubNet:
        if self.init == "scratch":
            tr = self.preset.training
            return zero_head(SubNet(self.space, self.arch), tr.zero_head, tr.head_init_scale)
        from dcnas_deploy.train.supernet import load_supernet

        assert self.supernet is not None  # check_inputs requires it for init != scratch
        net, _ = load_supernet(self.supernet)  # its space was checked against the preset by check_inputs
        return net.materialize(self.arch)

    def extra_state(self) -> Dict[str, Any]:
        return {"arch": self.arch.to_hex(), "init": self.init,
                "supernet": str(self.supernet) if self.supernet is not None else None}

    def check_checkpoint(self, ckpt: Dict[str, Any]) -> None:
        if ckpt.get("arch") != self.arch.to_hex():
            raise ConfigError(f"{self.run.path} trains architecture {ckpt.get('arch')}, not the given one "
                              f"({self.arch.to_hex()}); start a new --out for another architecture")

    def validate(self) -> Dict[str, float]:
        m = evaluate_model(self.net, self.val)
        return {"val_l1": m["l1"], "val_rmse": m["rmse"]}

    def train_step(self, step: int) -> Dict[str, Any]:
        b = self.stream.batch(step, 0).to(self.device)
        with self.autocast():
            loss = masked_l1(self.model(b.lr, b.guide).float(), b.hr, b.mask)
        self.optimise(loss)
        lr = self.opt.param_groups[0]["lr"]
        self.sched.step()
        return {"loss": float(loss.detach()), "lr": lr}

    def save_final(self) -> Path:
        """Write run_dir/model.pt (rank 0) with the metadata a deployment needs."""
        from dcnas_deploy.model.checkpoint import save_model

        d = self.preset.data
        meta = {"norm": d.norm, "scale": self.space.scale, "data": d.spec, "preset": self.preset.name,
                "task": self.preset.task,
                "steps": self.total, "init": self.init, **{k: float(v) for k, v in self.last_val.items()}}
        if self.supernet is not None:
            meta["supernet"] = str(self.supernet)
        return save_model(self.run.model_path, self.net.cpu() if self.device.type != "cpu" else self.net,  # type: ignore[arg-type]
                          meta)  # self.net is build_model()'s SubNet


def _weight_geometry(space: Dict[str, Any]) -> Dict[str, Any]:
    """The fields of a space that decide a network's weights: all but hr_size, the size `search --hr` costed it at
    (the network is fully convolutional, so one searched for 256×256 trains on the preset's patches as it is)."""
    return {k: v for k, v in space.items() if k != "hr_size"}


def check_inputs(arch: Arch, preset: Preset, init: str, supernet: Optional[Path | str]) -> None:
    """Fail before any write when the arch, the preset and the supernet don't belong together."""
    if init not in INITS:
        raise ConfigError(f"--init must be one of {list(INITS)}, got {init!r}")
    space = preset.make_space().to_dict()
    found_in = arch.meta.get("space")
    if isinstance(found_in, dict) and _weight_geometry(found_in) != _weight_geometry(space):
        raise ConfigError(f"the architecture was searched in space {found_in} but preset {preset.name!r} has {space}; "
                          f"pass the preset it was searched with (--preset) or --init supernet --supernet RUN")
    if init == "supernet":
        if supernet is None:
            raise ConfigError("--init supernet needs --supernet RUN_DIR (a supernet training run)")
        run = RunDir(supernet)
        ckpt_kind = run.load_checkpoint().get("kind")
        if ckpt_kind != "supernet":
            raise ConfigError(f"{run.path} holds a {ckpt_kind!r} run, not a supernet run")
        theirs = run.read_preset().make_space().to_dict()
        if theirs != space:
            raise ConfigError(f"supernet {run.path} has space {theirs} but preset {preset.name!r} has {space}; "
                              f"use the supernet run's preset (omit --preset)")


def _run(arch_genes, preset: Preset, out, resume: bool, init: str, supernet, progress: bool,
         prepared: bool = False, on_step=None) -> Dict[str, Any]:
    trainer = ArchTrainer(Arch(arch_genes), preset, out, resume, init=init, supernet=supernet, progress=progress,
                          prepared=prepared, on_step=on_step)
    result = trainer.run_training()
    if trainer.dist.is_main:
        result["model"] = trainer.save_final()
    return result


def _worker(arch_genes, preset_dict: Dict[str, Any], out: str, resume: bool, init: str, supernet,
            progress: bool) -> None:
    _run(arch_genes, Preset.from_dict(preset_dict, source="preset"), out, resume, init, supernet, progress, True)


def train_arch(arch: Arch, preset: Preset, out: Path | str, *, init: str = "scratch",
               supernet: Optional[Path | str] = None, resume: bool = False, nproc: int = 1, progress: bool = True,
               on_step: Optional[Callable[[int], None]] = None) -> Optional[Dict[str, Any]]:
    """Train `arch` into run directory `out`; returns the summary with 'model' (None after a spawned job)."""
    check_inputs(arch, preset, init, supernet)
    check_data(preset)
    genes = list(arch.genes)
    if nproc > 1:
        if preset.data.batch_size % nproc:
            raise ConfigError(f"data.batch_size {preset.data.batch_size} must be divisible by --nproc {nproc}")
        RunDir(out).prepare(preset, resume, ArchTrainer.kind)
        launch(nproc, _worker, {"arch_genes": genes, "preset_dict": preset.to_dict(), "out": str(out),
                                "resume": resume, "init": init, "supernet": supernet, "progress": progress})
        return None
    return _run(genes, preset, out, resume, init, supernet, progress, on_step=on_step)
