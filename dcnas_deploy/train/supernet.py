"""Supernet training, paper Alg. 1: uniform (SPOS) warm-up, then predictor-guided path sampling.

Each guided step draws τ = C(α) of a uniform α (eq. 10), accepts m candidate paths with
0 ≤ τ − C ≤ σ (eq. 12, see sampling.py), and trains the predictor's top k. At the end of the warm-up
the first predictor is fitted on `init_paths` uniformly drawn paths scored on the fixed validation
crops (their τ is their own cost: they were drawn without a constraint); every t = `refresh_every`
steps it is fine-tuned on `refresh_paths` fresh paths drawn under a fresh τ, and its Kendall τ on those
paths *before* fine-tuning (an honest held-out figure) is logged as pred_kendall. The column `val` is
the mean validation score of 8 fixed uniformly drawn probe paths, at step 0 and at every checkpoint.
With `sampling.largest_steps` the first steps train the largest path instead (Once-for-All's start from
its full network), with `sampling.hand_steps` the hand design (one fixed mid-size path: a single network leaves
the zero head's plateau in a few hundred steps, random paths take far longer); either counts toward the warm-up.
bench/supernet_start.py measures what they change.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.model import Supernet
from dcnas_deploy.presets import Preset
from dcnas_deploy.space import Arch, SearchSpace
from dcnas_deploy.space.genes import BLOCK_NAMES, FUSIONS, LEVELS, SLOTS, fusion_gene
from dcnas_deploy.train.batches import open_split
from dcnas_deploy.train.distributed import launch
from dcnas_deploy.train.evaluate import evaluate_paths, masked_l1
from dcnas_deploy.train.rundir import RunDir
from dcnas_deploy.train.sampling import ConstraintSampler
from dcnas_deploy.train.trainer import RunTrainer, check_data, validation_set, zero_head  # noqa: F401 (re-export)

if TYPE_CHECKING:
    from dcnas_deploy.predictor import Predictor

PROBE_PATHS = 8
# Stream ids of the per-step generators: np.random.default_rng([seed, STREAM, step]).
_PATHS, _REFRESH, _INIT, _PROBE, _FIT = 1, 2, 3, 4, 5


def steps_per_epoch(preset: Preset) -> int:
    """Steps that draw as many patches as the training split has images (one patch per image)."""
    d = preset.data
    return max(1, math.ceil(len(open_split(d.spec, d.train_split, "training")) / d.batch_size))


def _trivial(genome: np.ndarray) -> bool:
    """A path with every fusion 'none' is just lr_up: it has no weights to train."""
    return not SearchSpace.liveness(genome[None]).decoder[0].any()


TWO_INPUT_FUSIONS = ("sum", "concat_pw", "attention")
HAND_DESIGN = Arch.uniform("k3e4", 2, "concat_pw")
"""The hand design the ablations fix parts to and `sampling.hand_steps` starts from."""


def largest_path(rng: np.random.Generator) -> np.ndarray:
    """Every slot of every stage the biggest block, each level fused by a two-input op drawn from `rng`."""
    genes = Arch.uniform(BLOCK_NAMES[-1], SLOTS, TWO_INPUT_FUSIONS[0]).array()
    for lv in range(LEVELS):
        genes[fusion_gene(lv)] = FUSIONS.index(TWO_INPUT_FUSIONS[int(rng.integers(len(TWO_INPUT_FUSIONS)))])
    return genes


def inherit_supernet(net: Supernet, source: str) -> Supernet:
    """`net` with the weights of supernet `source` (run folder or shipped name); same width and channels needed."""
    from dcnas_deploy.pretrained import resolve_supernet

    donor, _ = load_supernet(resolve_supernet(source))
    mine, theirs = net.state_dict(), donor.state_dict()
    wrong = sorted(k for k in mine if k not in theirs or theirs[k].shape != mine[k].shape)
    if wrong:
        raise ConfigError(f"training.init_supernet: {source} does not fit this space ({len(wrong)} tensors missing "
                          f"or of another shape, e.g. {wrong[0]}); it needs the same width and channels")
    net.load_state_dict({k: theirs[k] for k in mine})  # lr_up, the only scale-dependent part, has no weights
    return net


class SupernetTrainer(RunTrainer):
    """One process of a supernet run (rank 0 writes the files, fits the predictor and picks the paths)."""

    kind = "supernet"
    log_fields = ("step", "phase", "loss", "lr", "tau", "cost", "fallbacks", "accept_rate", "val", "pred_kendall",
                  "elapsed_s")

    def __init__(self, preset: Preset, out: Path | str, resume: bool = False, **kw):
        tr = preset.training
        super().__init__(preset, out, resume, total_steps=tr.steps, lr=tr.lr, lr_halve_every=tr.lr_halve_every,
                         **kw)

    # ---- hooks -----------------------------------------------------------------------------
    def setup(self) -> None:
        self.sampler = ConstraintSampler.for_preset(self.preset)
        self.probe = self.space.sample_genomes(PROBE_PATHS, np.random.default_rng([self.seed, _PROBE]))
        self.predictor: Optional[Predictor] = None  # rank 0's, once fitted
        self.predictor_ready = False

    def build_model(self) -> Supernet:
        net = zero_head(Supernet(self.space), self.preset.training.zero_head, self.preset.training.head_init_scale)
        source = self.preset.training.init_supernet
        return inherit_supernet(net, source) if source and not self.resuming else net

    def extra_state(self) -> Dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "predictor_ready": self.predictor_ready,
                "predictor": self.predictor.state_dict() if self.predictor is not None else None}

    def load_extra_state(self, ckpt: Dict[str, Any]) -> None:
        from dcnas_deploy.predictor import Predictor

        self.sampler.load_state_dict(ckpt["sampler"])
        self.predictor_ready = bool(ckpt["predictor_ready"])
        if ckpt.get("predictor") is not None and self.dist.is_main:
            self.predictor = Predictor.from_state_dict(ckpt["predictor"])

    def on_checkpoint(self, done: int) -> None:
        if self.predictor is not None:
            self.predictor.save(self.run.predictor_path)

    def before_run(self) -> None:
        from dcnas_deploy.predictor.scored import truncate_scored

        if self.dist.is_main:
            truncate_scored(self.run.scored_path, self.start - 1)  # rows at step ≥ start are redone

    def validate(self) -> Dict[str, float]:
        return {"val": float(self.score_paths(self.probe).mean())}

    # ---- scoring and the predictor --------------------------------------------------------------
    def score_paths(self, genomes: np.ndarray) -> np.ndarray:
        """Validation scores of paths, the work split over ranks (every rank gets all scores)."""
        out = np.zeros(len(genomes))
        mine = np.arange(self.dist.rank, len(genomes), self.dist.world)
        if len(mine):
            out[mine] = evaluate_paths(self.net, genomes[mine], self.val, self.preset.data.metric)
        return self.dist.sum_array(out)

    def _fit(self, step: int, genomes: np.ndarray, taus, scores: np.ndarray, epochs: int) -> None:
        from dcnas_deploy.predictor.fit import fit_predictor

        p = self.preset.predictor
        assert self.predictor is not None  # fitted on rank 0 only, which alone calls this
        fit_predictor(self.predictor, genomes, taus, scores, loss=p.loss, margin=p.margin, epochs=epochs,
                      batch_paths=p.batch_paths, lr=p.lr, weight_decay=p.weight_decay,
                      seed=int(np.random.default_rng([self.seed, _FIT, step]).integers(2 ** 31)))

    def init_predictor(self, step: int) -> None:
        """Score init_paths uniform paths (τ = own cost) and fit the first predictor."""
        from dcnas_deploy.predictor.fit import new_predictor
        from dcnas_deploy.predictor.scored import append_scored

        sa = self.preset.sampling
        genomes = self.space.sample_genomes(sa.init_paths, np.random.default_rng([self.seed, _INIT]))
        costs = self.sampler.tables.batch(genomes)
        scores = self.score_paths(genomes)
        if self.dist.is_main:
            self.predictor = new_predictor(self.preset.predictor, self.sampler.lo, self.sampler.hi, seed=self.seed,
                                           meta={"constraint": sa.constraint, "space": self.space.to_dict()})
            self._fit(step, genomes, costs, scores, self.preset.predictor.init_epochs)
            append_scored(self.run.scored_path, step, "init", "train", costs, costs, scores, genomes)
        self.predictor_ready = True
        self._pending["force_log"] = True

    def refresh_predictor(self, step: int) -> None:
        """Fine-tune on refresh_paths fresh paths under a fresh τ; log Kendall τ before fine-tuning."""
        from dcnas_deploy.predictor.evaluate import rank_metrics
        from dcnas_deploy.predictor.scored import append_scored

        rng = np.random.default_rng([self.seed, _REFRESH, step])
        tau, source = self.sampler.draw_tau(rng)
        draw = self.sampler.sample_under(tau, self.preset.sampling.refresh_paths, rng, source)
        scores = self.score_paths(draw.genomes)
        self._pending["force_log"] = True
        if self.dist.is_main:
            assert self.predictor is not None  # rank 0 holds it once the warm-up fitted it
            if len(draw.genomes) >= 3:
                self._pending["pred_kendall"] = rank_metrics(self.predictor.score(draw.genomes, tau), scores)["kendall"]
            self._fit(step, draw.genomes, tau, scores, self.preset.predictor.refresh_epochs)
            append_scored(self.run.scored_path, step, "refresh", "train", tau, draw.costs, scores, draw.genomes)

    # ---- one iteration of Alg. 1 ----------------------------------------------------------------
    def phase(self, step: int) -> str:
        """'largest', 'hand', 'warmup', 'uniform' (strategy uniform) or 'guided'."""
        sa = self.preset.sampling
        if step < sa.largest_steps:
            return "largest"
        if step < sa.hand_steps:
            return "hand"
        if sa.strategy == "uniform":
            return "uniform"
        return "warmup" if step < sa.warmup_steps else "guided"

    def choose_paths(self, step: int) -> np.ndarray:
        """The k genomes trained at `step` (identical on every rank)."""
        sa = self.preset.sampling
        rng = np.random.default_rng([self.seed, _PATHS, step])
        phase = self.phase(step)
        if phase != "guided":
            if phase == "largest":
                genomes = np.stack([largest_path(rng) for _ in range(sa.k)])
            elif phase == "hand":
                genomes = np.stack([HAND_DESIGN.array()] * sa.k)
            else:
                genomes = self.space.sample_genomes(sa.k, rng)
            self._pending["cost"] = float(self.sampler.tables.batch(genomes).mean())
            return genomes
        if not self.predictor_ready:
            self.init_predictor(step)
        elif step > sa.warmup_steps and (step - sa.warmup_steps) % sa.refresh_every == 0:
            self.refresh_predictor(step)
        chosen = None
        if self.dist.is_main:
            tau, source = self.sampler.draw_tau(rng)
            draw = self.sampler.sample_under(tau, sa.m, rng, source)
            assert self.predictor is not None  # rank 0 holds it once the warm-up fitted it
            top = np.argsort(-self.predictor.score(draw.genomes, tau), kind="stable")[: sa.k]
            chosen = draw.genomes[np.resize(top, sa.k)]  # fewer candidates than k: repeat the best
            self._pending.update(tau=tau, cost=float(draw.costs[top].mean()))
        return self.dist.broadcast_genomes(chosen, sa.k)

    def train_step(self, step: int) -> Dict[str, Any]:
        """Alg. 1 lines 2-9: choose the paths, one optimiser step on each with its own batch."""
        losses = []
        for j, genome in enumerate(self.choose_paths(step)):
            arch = Arch(genome)
            b = self.stream.batch(step, j).to(self.device)
            if _trivial(genome):  # DDP would wait for gradients that never come
                with torch.no_grad(), self.autocast():
                    loss = masked_l1(self.net(b.lr, b.guide, arch=arch).float(), b.hr, b.mask)
            else:
                with self.autocast():
                    loss = masked_l1(self.model(b.lr, b.guide, arch=arch).float(), b.hr, b.mask)
            self.optimise(loss)
            losses.append(float(loss.detach()))
        lr = self.opt.param_groups[0]["lr"]
        self.sched.step()
        stats = self.sampler.stats()
        return {"loss": float(np.mean(losses)), "lr": lr, "phase": self.phase(step), "info": self.phase(step),
                "fallbacks": stats["fallbacks"], "accept_rate": stats["accept_rate"]}


def _worker(preset_dict: Dict[str, Any], out: str, resume: bool, progress: bool) -> None:
    """Entry of one spawned rank (the parent prepared the run directory)."""
    preset = Preset.from_dict(preset_dict, source="preset")
    SupernetTrainer(preset, out, resume, progress=progress, prepared=True).run_training()


def train_supernet(preset: Preset, out: Path | str, resume: bool = False, *, nproc: int = 1, progress: bool = True,
                   on_step: Optional[Callable[[int], None]] = None) -> Optional[Dict[str, Any]]:
    """Train a supernet into run directory `out` (nproc > 1 spawns a gloo/NCCL data-parallel job).

    Returns {'run_dir', 'steps', 'val_start', 'val_end', 'elapsed_s'} (None after a spawned job).
    """
    check_data(preset)
    if nproc > 1:
        if preset.data.batch_size % nproc:
            raise ConfigError(f"data.batch_size {preset.data.batch_size} must be divisible by --nproc {nproc}")
        RunDir(out).prepare(preset, resume, SupernetTrainer.kind)
        launch(nproc, _worker, {"preset_dict": preset.to_dict(), "out": str(out), "resume": resume,
                                "progress": progress})
        return None
    return SupernetTrainer(preset, out, resume, progress=progress, on_step=on_step).run_training()


def load_supernet_at(run_dir: Path | str, device: torch.device | str = "cpu") -> Tuple[Supernet, Preset, int]:
    """load_supernet plus the step of the checkpoint the weights come from."""
    run = RunDir(run_dir)
    ckpt = run.load_checkpoint()
    if ckpt.get("kind") != "supernet":
        raise ConfigError(f"{run.path} holds a {ckpt.get('kind')!r} run, not a supernet run")
    preset = Preset.from_dict(ckpt["preset"], source=str(run.checkpoint_path))
    net = Supernet(preset.make_space())
    net.load_state_dict(ckpt["model"])
    return net.to(torch.device(device)).eval(), preset, int(ckpt["step"])


def load_supernet(run_dir: Path | str, device: torch.device | str = "cpu") -> Tuple[Supernet, Preset]:
    """The trained supernet of a run (latest checkpoint, eval mode) and the run's preset."""
    net, preset, _ = load_supernet_at(run_dir, device)
    return net, preset
