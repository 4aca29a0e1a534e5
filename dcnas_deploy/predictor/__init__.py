"""Ranking predictor of path quality (paper §III-C): model, losses, fitting, evaluation, scored paths.

For the search: ``Predictor.load(path).score(genomes (N, 52), tau) -> (N,)`` (higher = better).
"""
from dcnas_deploy.predictor.model import Predictor, PredictorNet, tokenize

__all__ = ["Predictor", "PredictorNet", "tokenize"]
