"""Closed loop: measure the best candidates on every constrained device; keep the first that meets all."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from dcnas_deploy.errors import DcnasError
from dcnas_deploy.runtimes.protocol import Protocol
from dcnas_deploy.search.constraints import Constraint
from dcnas_deploy.space import Arch, SearchSpace


@dataclass
class Verification:
    """Per candidate tried: LUT prediction and end-to-end measurement on each latency-constrained device."""

    chosen: Optional[Arch]
    tried: List[Dict] = field(default_factory=list)


def verify_candidates(space: SearchSpace, ranked: List[Arch], constraints: List[Constraint], max_candidates: int = 10,
                      protocol: Protocol = Protocol(), on_try: Optional[Callable[[Dict], None]] = None
                      ) -> Verification:
    """Walk `ranked` (best first); drop any candidate measured over a latency budget on any device.

    Each failure tightens the effective budget by the measured/predicted ratio it showed, so the next
    candidate tried is one the LUT, corrected by what the device just said, expects to fit.
    """
    from dcnas_deploy.runtimes.modules import measure_arch

    latency = [c for c in constraints if c.device]
    if not latency:
        return Verification(ranked[0] if ranked else None)
    result = Verification(None)
    # After a device measures a candidate over budget, LUT predictions near the budget are not trusted
    # as they are: candidates are skipped unless prediction × (worst measured/predicted ratio so far) fits.
    worst = {c.name: 1.0 for c in latency}
    for arch in ranked:
        if len(result.tried) >= max_candidates:
            break
        if any(float(c.tables(arch)) * worst[c.name] > c.budget for c in latency):
            continue
        entry: Dict = {"genome": arch.to_hex(), "devices": {}}
        ok = True
        for c in latency:
            predicted = float(c.tables(arch))
            try:
                timing = measure_arch(space, arch, c.device, protocol).to_dict()
            except DcnasError as exc:
                raise DcnasError(f"closed-loop check on {c.name} failed: {exc} "
                                 f"(use --no-verify to skip it, at the cost of an unverified budget)") from None
            entry["devices"][c.name.split(":", 1)[1]] = {"budget_ms": c.budget, "lut_ms": round(predicted, 4),
                                          "measured": timing, "within_budget": timing["median_ms"] <= c.budget}
            ok &= timing["median_ms"] <= c.budget
            worst[c.name] = max(worst[c.name], timing["median_ms"] / max(predicted, 1e-9))
        entry["accepted"] = ok
        result.tried.append(entry)
        if on_try:
            on_try(entry)
        if ok:
            result.chosen = arch
            break
    return result
