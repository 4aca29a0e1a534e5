"""`mix:SPEC+SPEC[+...]`: interleave several datasets into one training source (e.g. rooms + dead-leaves).

Sample i comes from component i mod k, its sample i div k; the mix is k × the shortest component long, so
every component contributes equally. All components must share a task and a scoring protocol.
"""
from __future__ import annotations

from typing import List, Optional

from dcnas_deploy.data.registry import Dataset, check_spec, open_dataset, register_dataset, task_of_spec
from dcnas_deploy.data.sample import Sample
from dcnas_deploy.errors import ConfigError

USAGE = "mix:SPEC+SPEC[+...] (interleaves datasets of one task and protocol, e.g. mix:synthetic:n=256+deadleaves:n=256)"


def split_specs(text: Optional[str]) -> List[str]:
    """The component specs of a mix ('+'-separated); ConfigError unless there are at least two."""
    parts = [p.strip() for p in (text or "").split("+") if p.strip()]
    if len(parts) < 2:
        raise ConfigError(f"a mix needs at least two dataset specs joined by '+', got {text!r}; {USAGE}")
    if any(p.partition(":")[0].strip().lower() == "mix" for p in parts):
        raise ConfigError("a mix cannot contain another mix; list its components instead")
    return parts


class MixDataset(Dataset):
    """Round-robin interleaving of `parts` (same task and protocol)."""

    name = "mix"

    def __init__(self, parts: List[Dataset]):
        protocols = {p.protocol.name for p in parts}
        if len(protocols) > 1:
            raise ConfigError(f"mixed datasets must share a scoring protocol, got {sorted(protocols)}")
        self.parts = parts
        self.protocol, self.split, self.task = parts[0].protocol, parts[0].split, parts[0].task
        self.n_each = min(len(p) for p in parts)

    def __len__(self) -> int:
        return self.n_each * len(self.parts)

    def load(self, index: int) -> Sample:
        k = len(self.parts)
        return self.parts[index % k][index // k]


def _check(text: Optional[str]) -> None:
    specs = split_specs(text)
    for s in specs:
        check_spec(s)
    tasks = {task_of_spec(s) for s in specs}
    if len(tasks) > 1:
        raise ConfigError(f"mixed datasets must share a task, got {sorted(tasks)}")


@register_dataset("mix", USAGE, check=_check)
def open_mix(path: Optional[str], split: str = "test", **kw) -> Dataset:
    """The interleaved components of a mix spec, each opened for `split`."""
    if kw:
        raise ConfigError(f"dataset 'mix' takes no option(s) {sorted(kw)}; give options in each component's spec")
    _check(path)
    return MixDataset([open_dataset(s, split) for s in split_specs(path)])
