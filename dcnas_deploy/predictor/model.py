"""The ranking predictor (paper §III-C, eq. 13-16): gene and τ embeddings → 2-layer BiGRU → MLP → score.

Genes are tokenised with liveness: a block gene of a dead stage becomes a 'dead' token, so paths that
compute the same network get the same input. Block tokens are separate per branch (guide encoder,
target encoder, decoder); a learned position embedding tells slots apart. τ enters as a linear
embedding of τ normalised by the space's cost range. Higher score = better path.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch
from torch import nn

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.fileio import atomic_write_bytes, load_torch_file
from dcnas_deploy.space import SearchSpace
from dcnas_deploy.space.genes import (BRANCHES, LEVELS, N_BLOCK_CHOICES, N_BLOCK_GENES, N_FUSION_CHOICES, N_GENES,
                                      SLOTS)

FORMAT = "dcnas-predictor/1"
DEAD = N_BLOCK_CHOICES  # block token of a dead stage
_BRANCH_TOKENS = N_BLOCK_CHOICES + 1
N_TOKENS = len(BRANCHES) * _BRANCH_TOKENS + N_FUSION_CHOICES
SCORE_BATCH = 1000


def tokenize(genomes: np.ndarray) -> np.ndarray:
    """(N, 52) genomes → (N, 52) int64 token ids (per-branch block ids, dead stages masked, fusion ids)."""
    g = np.atleast_2d(np.asarray(genomes, dtype=np.int64))
    lv = SearchSpace.liveness(g)
    stage_live = np.concatenate([lv.guide, lv.target, lv.decoder[:, ::-1]], axis=1)  # genome stage order
    block_live = np.repeat(stage_live, SLOTS, axis=1)
    blocks = np.where(block_live, g[:, :N_BLOCK_GENES], DEAD)
    branch = np.repeat(np.arange(len(BRANCHES)), LEVELS * SLOTS)[None] * _BRANCH_TOKENS
    fusion = g[:, N_BLOCK_GENES:] + len(BRANCHES) * _BRANCH_TOKENS
    return np.concatenate([blocks + branch, fusion], axis=1)


class PredictorNet(nn.Module):
    """score(tokens (N, 52), τ_norm (N,)) -> (N,)."""

    def __init__(self, embed_dim: int = 32, hidden: int = 64, layers: int = 2):
        super().__init__()
        self.config = {"embed_dim": int(embed_dim), "hidden": int(hidden), "layers": int(layers)}
        self.tokens = nn.Embedding(N_TOKENS, embed_dim)
        self.position = nn.Parameter(torch.zeros(N_GENES, embed_dim))
        self.tau = nn.Linear(1, embed_dim)
        self.gru = nn.GRU(embed_dim, hidden, num_layers=layers, bidirectional=True, batch_first=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden + embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, tokens: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        x = self.tokens(tokens) + self.position
        _, h = self.gru(x)  # h: (layers·2, N, hidden); the last layer's forward and backward states
        path = torch.cat([h[-2], h[-1]], dim=1)
        return self.head(torch.cat([path, self.tau(tau.unsqueeze(1))], dim=1)).squeeze(1)


class Predictor:
    """A PredictorNet plus the τ normalisation it was trained with; `score` is what the search calls."""

    def __init__(self, net: PredictorNet, tau_lo: float, tau_hi: float, meta: Optional[Dict[str, Any]] = None):
        self.net = net.eval()
        self.tau_lo, self.tau_hi = float(tau_lo), float(tau_hi)
        self.meta: Dict[str, Any] = dict(meta or {})

    @classmethod
    def create(cls, tau_lo: float, tau_hi: float, embed_dim: int = 32, hidden: int = 64, layers: int = 2,
               seed: int = 0, meta: Optional[Dict[str, Any]] = None) -> "Predictor":
        """A freshly initialised predictor (weights fixed by `seed`)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = PredictorNet(embed_dim, hidden, layers)
        return cls(net, tau_lo, tau_hi, meta)

    def inputs(self, genomes: np.ndarray, tau: Union[float, np.ndarray]) -> tuple:
        """(tokens, τ_norm) tensors for a batch of genomes and one τ or one τ per genome."""
        g = np.atleast_2d(np.asarray(genomes))
        t = np.broadcast_to(np.asarray(tau, dtype=np.float64), (len(g),))
        t_norm = (t - self.tau_lo) / max(self.tau_hi - self.tau_lo, 1e-12)
        return torch.from_numpy(tokenize(g)), torch.from_numpy(t_norm.astype(np.float32))

    @torch.no_grad()
    def score(self, genomes: np.ndarray, tau: Union[float, np.ndarray]) -> np.ndarray:
        """Predicted goodness (higher = better) of each (N, 52) genome under constraint τ, float64 (N,)."""
        g = np.atleast_2d(np.asarray(genomes))
        taus = np.broadcast_to(np.asarray(tau, dtype=np.float64), (len(g),))
        self.net.eval()
        out = np.empty(len(g), dtype=np.float64)
        for i in range(0, len(g), SCORE_BATCH):
            tokens, t = self.inputs(g[i:i + SCORE_BATCH], taus[i:i + SCORE_BATCH])
            out[i:i + SCORE_BATCH] = self.net(tokens, t).double().numpy()
        return out

    # ---- persistence ---------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to rebuild this predictor (config, τ range, weights, meta)."""
        return {"format": FORMAT, "config": dict(self.net.config), "tau_lo": self.tau_lo, "tau_hi": self.tau_hi,
                "weights": self.net.state_dict(), "meta": dict(self.meta)}

    @classmethod
    def from_state_dict(cls, state: Dict[str, Any], source: str = "predictor") -> "Predictor":
        """Inverse of state_dict."""
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            fmt = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ConfigError(f"{source}: not a dcnas predictor (format {fmt!r}, expected {FORMAT!r})")
        net = PredictorNet(**state["config"])
        net.load_state_dict(state["weights"])
        return cls(net, state["tau_lo"], state["tau_hi"], state.get("meta"))

    def save(self, path: Union[str, Path]) -> Path:
        """Write atomically."""
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Predictor":
        """Read a file written by save (ConfigError when missing or not a predictor)."""
        return cls.from_state_dict(load_torch_file(path, "predictor file"), str(path))
