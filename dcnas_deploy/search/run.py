"""`search_architecture`: Alg. 2 under budgets, closed-loop device check, arch.yaml + curve + Pareto plot."""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from dcnas_deploy import __version__
from dcnas_deploy.errors import ConfigError, DcnasError
from dcnas_deploy.fileio import check_output_path
from dcnas_deploy.runtimes.protocol import Protocol
from dcnas_deploy.search.constraints import Constraint, Feasibility, guide_blind
from dcnas_deploy.search.evolution import SearchLog, SearchSettings, run_search
from dcnas_deploy.search.outputs import open_evaluated, write_curve, write_evaluated, write_pareto
from dcnas_deploy.search.verify import Verification, check_devices, verify_candidates
from dcnas_deploy.space import Arch, SearchSpace


@dataclass
class SearchOutcome:
    """The chosen architecture and where everything was written."""

    arch: Arch
    arch_path: Path
    log: SearchLog
    verification: Verification
    files: Dict[str, Path]
    stale_cache: Optional[Path] = None
    """Where an evaluated.csv scored with another fitness (supernet, data) was moved; None when none was."""


def output_paths(arch_path: Path) -> Dict[str, Path]:
    """Files written next to arch.yaml (stem-prefixed so several searches can share a folder)."""
    stem = arch_path.with_suffix("")
    return {"evaluated": Path(f"{stem}.evaluated.csv"), "evaluated_key": Path(f"{stem}.evaluated.json"),
            "curve_csv": Path(f"{stem}.curve.csv"),
            "curve_png": Path(f"{stem}.curve.png"), "pareto_png": Path(f"{stem}.pareto.png")}


def search_architecture(space: SearchSpace, constraints: List[Constraint], fitness: Callable[[np.ndarray], np.ndarray],
                        arch_path: Path, settings: SearchSettings, strategy: str = "evolution+predictor",
                        scorer: Optional[Callable[[np.ndarray], np.ndarray]] = None, seed: int = 0,
                        verify: bool = True, verify_max: int = 10, protocol: Protocol = Protocol(),
                        provenance: Optional[Dict] = None,
                        on_iteration: Optional[Callable[[int, SearchLog], None]] = None,
                        on_verify: Optional[Callable[[Dict], None]] = None,
                        fitness_key: Optional[Dict[str, str]] = None, strict_raw: bool = False,
                        on_note: Optional[Callable[[str], None]] = None, allow_bicubic: bool = False,
                        allow_guide_blind: bool = False) -> SearchOutcome:
    """Run the search and the closed loop, then write arch.yaml (with per-device LUT vs measured) and plots.

    `fitness_key` identifies the fitness (supernet checkpoint, validation data, metric): evaluated.csv is
    reused by a rerun only when it was scored under the same key (see outputs.open_evaluated).
    The closed loop holds each device's budget against the latency at its LUT's nominal speed
    (`strict_raw`: against the raw time); notes (host speed, unverifiable LUTs) go to `on_note`.
    `allow_bicubic` lets the bicubic-only output (no network) be a candidate; `allow_guide_blind` networks that
    ignore the guide (recorded in arch.yaml when the chosen one does).
    """
    arch_path = Path(arch_path)
    files = output_paths(arch_path)
    for name, path in files.items():
        check_output_path(path, f"search output ({name})", inputs=[])
    if verify and verify_max < 1:
        raise ConfigError(f"verify_max must be ≥ 1 (got {verify_max}): it is how many candidates the closed loop "
                          f"may measure; to skip measuring use verify=False (--no-verify)")
    feas = Feasibility(space, constraints, allow_bicubic, allow_guide_blind)
    if constraints:
        feas.sample(1, np.random.default_rng([seed, 1]))  # raises early, naming the cheapest costs
    notes: List[str] = []

    def note(line: str) -> None:
        notes.append(line)
        if on_note:
            on_note(line)

    checks = check_devices(constraints, note) if verify else None  # a wrong table fails before the search
    known, stale = open_evaluated(files["evaluated"], files["evaluated_key"], fitness_key or {"fitness_key": ""})

    def checkpoint(it: int, log: SearchLog) -> None:
        write_evaluated(log, feas, files["evaluated"])  # a rerun re-evaluates nothing already scored
        if on_iteration:
            on_iteration(it, log)

    log = run_search(space, feas, fitness, settings, strategy, scorer, seed, known, checkpoint)
    ranked = [Arch(log.genomes[h]) for h in log.ranked()]
    verification = verify_candidates(space, ranked, constraints, verify_max, protocol, on_verify, strict_raw,
                                     checks, note) if verify else Verification(ranked[0])
    if verification.chosen is None:
        raise DcnasError(no_candidate_message(verification))
    chosen = verification.chosen
    costs = feas.costs(chosen.array()[None])[0]
    measured = {}
    for t in verification.tried:
        if t["genome"] == chosen.to_hex():
            measured = {d: v["decided_ms"] for d, v in t["devices"].items()}  # on the LUT's (nominal) scale
    chosen = Arch(chosen.genes, meta={
        "space": space.to_dict(),
        "search": {
            "strategy": strategy, "seed": seed, "settings": asdict(settings),
            "val_rmse": log.fitness[chosen.to_hex()], "evaluated": len(log.fitness),
            "constraints": {c.name: {"budget": c.budget, "unit": c.unit, "predicted": float(v)}
                            for c, v in zip(constraints, costs)},
            "closed_loop": verification.tried if verify else "skipped (--no-verify): latency NOT verified on device",
            "closed_loop_notes": notes,
            **({"guide_blind": "allowed (--allow-guide-blind) and chosen: this network ignores its guide"}
               if bool(guide_blind(chosen.array()[None])[0]) else {}),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "by": f"dcnas-deploy {__version__}", **(provenance or {})}})
    chosen.to_yaml(arch_path)
    write_evaluated(log, feas, files["evaluated"])
    write_curve(log, files["curve_csv"], files["curve_png"],
                f"{strategy}: {len(log.fitness)} paths evaluated, best {log.curve[-1]['best']:.4g}")
    if constraints:
        axis = next((c for c in constraints if c.device), constraints[0])
        write_pareto(log, feas, axis, chosen.to_hex(), files["pareto_png"], measured)
    return SearchOutcome(chosen, arch_path, log, verification, files, stale)


def no_candidate_message(verification: Verification) -> str:
    """Why the closed loop returned nothing: each candidate's decided and raw time against its budget."""
    tried = "; ".join(f"{t['genome'][:12]}…: " + ", ".join(
        f"{d} {v['decided_ms']:.2f} ms {v['decided_on']} (upper 95 % bound {v.get('held_ms', v['decided_ms']):.2f}, "
        f"raw {v['measured']['median_ms']:.2f}, "
        f"LUT {v['lut_ms']:.2f}, budget {v['budget_ms']:.2f})" for d, v in t["devices"].items())
        for t in verification.tried)
    return (f"no candidate measured within budget on the device ({len(verification.tried)} tried; the rest are "
            f"not expected to fit once the LUT is corrected by what the device measured): {tried}. Check the table "
            "with `dcnas-deploy lut check LUT`, or raise the budget.")
