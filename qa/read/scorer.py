"""A fitted linear scorer over named features: ``sigmoid(bias + Σ weight·feature)``.

Used twice by the reader: to cut the candidate sentences down to the few the model reads, and
to turn the model's reading of the best sentence into a calibrated probability that the answer
is right. The weights are data (``params.json`` beside the model), fitted by
:mod:`qa.read.calibrate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LinearScorer:
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearScorer:
        features = tuple(str(f) for f in data["features"])
        weights = tuple(float(w) for w in data["weights"])
        if len(features) != len(weights):
            raise ValueError("a scorer needs one weight per feature")
        return cls(features, weights, float(data["bias"]))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias}

    def logit(self, values: Mapping[str, float]) -> float:
        return self.bias + sum(
            w * values[f] for f, w in zip(self.features, self.weights, strict=True)
        )

    def probability(self, values: Mapping[str, float]) -> float:
        x = max(-50.0, min(50.0, self.logit(values)))
        return 1.0 / (1.0 + math.exp(-x))
