"""Temperature scaling (Guo et al. 2017) and the measures of calibration: NLL, Brier score, expected
calibration error and the reliability diagram's bins. Logits are float[n, classes], labels int[n]."""

from __future__ import annotations

import math

import numpy as np

BINS = 15  # equal-width confidence bins of ECE and of the reliability diagram
_LOG_T_RANGE = (math.log(0.02), math.log(50.0))


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
  """float64[n, classes] log-probabilities of logits / temperature."""
  z = np.asarray(logits, np.float64) / temperature
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
  return np.exp(log_softmax(logits, temperature))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
  """Mean negative log-likelihood of the true classes."""
  return float(-log_softmax(logits, temperature)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
  """The temperature T in [0.02, 50] minimising nll(logits, labels, T): golden-section search on log T (the
  NLL is convex in 1/T, and unimodal in log T)."""
  if len(labels) == 0:
    raise ValueError("no records to fit a temperature on")
  lo, hi = _LOG_T_RANGE
  ratio = (math.sqrt(5) - 1) / 2
  a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
  fa, fb = nll(logits, labels, math.exp(a)), nll(logits, labels, math.exp(b))
  while hi - lo > 1e-6:
    if fa <= fb:
      hi, b, fb = b, a, fa
      a = hi - ratio * (hi - lo)
      fa = nll(logits, labels, math.exp(a))
    else:
      lo, a, fa = a, b, fb
      b = lo + ratio * (hi - lo)
      fb = nll(logits, labels, math.exp(b))
  return float(math.exp((lo + hi) / 2))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
  """Mean over records of the squared distance between the probabilities and the one-hot truth."""
  onehot = np.eye(probs.shape[-1])[labels]
  return float(((probs - onehot) ** 2).sum(-1).mean())


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict[str, list]:
  """Per equal-width bin of top-class probability: 'count', 'confidence' (mean top probability) and
  'accuracy' (share of correct top classes); an empty bin has None for both means."""
  confidence = probs.max(-1)
  correct = probs.argmax(-1) == labels
  which = np.minimum((confidence * bins).astype(int), bins - 1)
  out: dict[str, list] = {"count": [], "confidence": [], "accuracy": []}
  for k in range(bins):
    inside = which == k
    n = int(inside.sum())
    out["count"].append(n)
    out["confidence"].append(float(confidence[inside].mean()) if n else None)
    out["accuracy"].append(float(correct[inside].mean()) if n else None)
  return out


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
  """Expected calibration error: the record-weighted mean |accuracy - confidence| over the bins."""
  table = reliability(probs, labels, bins)
  total = sum(table["count"])
  return float(sum(n * abs(a - c) for n, a, c in zip(table["count"], table["accuracy"], table["confidence"])
                   if n) / total)


def measures(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> dict[str, float]:
  """{'nll', 'brier', 'ece'} of the probabilities softmax(logits / temperature)."""
  probs = softmax(logits, temperature)
  return {"nll": nll(logits, labels, temperature), "brier": brier(probs, labels), "ece": ece(probs, labels)}
