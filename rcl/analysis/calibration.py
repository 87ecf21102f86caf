"""Temperature scaling (Guo et al. 2017), top-label histogram binning after it (Zadrozny & Elkan 2001;
Gupta & Ramdas 2021), and the measures of calibration: NLL, Brier score, expected calibration error and the
reliability diagram's bins. Logits are float[n, classes], labels int[n].

A `Calibrator` is what a model carries: its temperature and, where validation prefers it (`fit`), equal-mass
bins of the tempered top-class probability, each mapped to the share of validation records whose top class
was right in that bin (a Jeffreys posterior mean, made non-decreasing). Binning sets the top class's
probability only; the other classes share the rest in their tempered proportions, and the top class stays
on top.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

BINS = 15  # equal-width confidence bins of ECE and of the reliability diagram
TOP_BINS = 10  # equal-mass bins of top-label binning
_FLOOR = 1e-6  # the least top-class probability binning gives, and the floor of a binned NLL
_CV_REPEATS = 5  # random halvings of the validation split that choose between the two methods
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


def measures(logits: np.ndarray, labels: np.ndarray, calibrator: "float | Calibrator" = 1.0) -> dict[str, float]:
  """{'nll', 'brier', 'ece'} of the probabilities a `Calibrator` (or a bare temperature) gives `logits`."""
  if not isinstance(calibrator, Calibrator):
    calibrator = Calibrator(float(calibrator))
  probs = calibrator.probabilities(logits)
  if calibrator.edges is None:
    loss = nll(logits, labels, calibrator.temperature)
  else:  # a binned row's other classes keep shares of the tempered rest, which may underflow: floored
    loss = float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], _FLOOR)).mean())
  return {"nll": loss, "brier": brier(probs, labels), "ece": ece(probs, labels)}



@dataclasses.dataclass(frozen=True)
class Calibrator:
  """A temperature and, optionally, top-label bins: `edges` (float[bins - 1], increasing tempered top-class
  probabilities) and `values` (float[bins], the calibrated top-class probability of each bin, non-decreasing)."""
  temperature: float
  edges: tuple[float, ...] | None = None
  values: tuple[float, ...] | None = None

  @property
  def method(self) -> str:
    return "temperature" if self.edges is None else "temperature + top-label binning"

  def probabilities(self, logits: np.ndarray) -> np.ndarray:
    """float64[n, classes] calibrated probabilities."""
    probs = softmax(logits, self.temperature)
    if self.edges is None:
      return probs
    top = np.asarray(self.values)[np.searchsorted(np.asarray(self.edges), probs.max(-1), side="right")]
    return _set_top(probs, top)

  def to_dict(self) -> dict:
    out: dict = {"temperature": self.temperature, "method": self.method}
    if self.edges is not None:
      out["top_bins"] = {"edges": list(self.edges), "values": list(self.values)}
    return out

  @classmethod
  def from_dict(cls, values: dict) -> "Calibrator":
    """From `to_dict` output (a dict with only a temperature, or none: temperature 1)."""
    bins = values.get("top_bins")
    return cls(float(values.get("temperature", 1.0)), *(
        (tuple(bins["edges"]), tuple(bins["values"])) if bins else (None, None)))


def _set_top(probs: np.ndarray, top: np.ndarray) -> np.ndarray:
  """probs with each row's top class set to `top` (float[n]) and the others rescaled to share the rest; `top`
  is raised where needed so that the top class stays above its runner-up (by _FLOOR, which float32 keeps)."""
  order = np.sort(probs, -1)
  first, second = order[:, -1], order[:, -2] if probs.shape[-1] > 1 else np.zeros(len(probs))
  lowest = second / np.maximum(1.0 - first + second, _FLOOR) + _FLOOR  # the runner-up then stays below
  top = np.clip(np.maximum(top, lowest), _FLOOR, 1.0 - _FLOOR)
  out = probs * ((1.0 - top) / np.maximum(1.0 - first, 1e-12))[:, None]
  out[np.arange(len(probs)), probs.argmax(-1)] = top
  return out


def fit_top_bins(probs: np.ndarray, labels: np.ndarray, bins: int = TOP_BINS) -> tuple[tuple, tuple]:
  """(edges, values) of top-label binning: equal-mass bins of probs' top-class probability, each valued at
  the share of its records whose top class is `labels` (the posterior mean under a Jeffreys prior, (right +
  1/2) / (records + 1): a bin whose every record was right says 0.994 from 86 records, not certainty),
  pooled where needed to be non-decreasing."""
  top, right = probs.max(-1), (probs.argmax(-1) == labels).astype(np.float64)
  edges = list(np.unique(np.quantile(top, np.linspace(0.0, 1.0, bins + 1)[1:-1])))
  while True:  # merge a bin no record falls in into its neighbour (ties and interpolated quantiles)
    counts = np.bincount(np.searchsorted(edges, top, side="right"), minlength=len(edges) + 1)
    empty = np.flatnonzero(counts == 0)
    if not len(empty):
      break
    del edges[max(int(empty[0]) - 1, 0)]
  which = np.searchsorted(edges, top, side="right")
  right_in = np.bincount(which, right, minlength=len(counts))
  values = _nondecreasing((right_in + 0.5) / (counts + 1.0), counts + 1.0)
  return tuple(float(e) for e in edges), tuple(float(v) for v in values)


def _nondecreasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
  """The weighted least-squares non-decreasing fit of `values` (pool adjacent violators)."""
  blocks: list[list[float]] = []  # [mean, weight, length]
  for v, w in zip(values, weights):
    blocks.append([float(v), float(w), 1])
    while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
      (m1, w1, n1), (m2, w2, n2) = blocks[-2], blocks.pop()
      blocks[-1] = [(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
  return np.concatenate([np.full(n, m) for m, _, n in blocks])


def ece_floor(probs: np.ndarray, draws: int = 1000, seed: int = 0) -> tuple[float, float]:
  """(mean, 95th percentile) of the ECE a perfectly calibrated model with these top-class probabilities would
  measure on this many records: each draw marks every top class right with its own probability."""
  top = probs.max(-1)
  rng = np.random.default_rng(seed)
  calls = probs.argmax(-1)
  wrong = (calls + 1) % probs.shape[-1]
  values = [ece(probs, np.where(rng.random(len(top)) < top, calls, wrong)) for _ in range(draws)]
  return float(np.mean(values)), float(np.quantile(values, 0.95))


def fit(logits: np.ndarray, labels: np.ndarray, seed: int = 0) -> Calibrator:
  """A model's `Calibrator` from its validation logits: the NLL temperature (`fit_temperature`), then top-label
  binning where it lowers the Brier score of held-out halves of these records (`_CV_REPEATS` random
  halvings, each half fitted on the other, seeded by `seed`). A proper score, not the ECE: binning always
  lowers a measured ECE (coarse outputs have less room for noise), but it is kept only where its gain in
  calibration outweighs the sharpness it gives up."""
  temperature = fit_temperature(logits, labels)
  held_out = {False: [], True: []}
  for repeat in range(_CV_REPEATS):
    order = np.random.default_rng([seed, repeat]).permutation(len(labels))
    halves = (order[:len(order) // 2], order[len(order) // 2:])
    for fit_on, judge in (halves, halves[::-1]):
      plain = Calibrator(fit_temperature(logits[fit_on], labels[fit_on]))
      binned = Calibrator(plain.temperature, *fit_top_bins(plain.probabilities(logits[fit_on]), labels[fit_on]))
      for with_bins, cal in ((False, plain), (True, binned)):
        held_out[with_bins].append(brier(cal.probabilities(logits[judge]), labels[judge]))
  plain = Calibrator(temperature)
  if np.mean(held_out[True]) >= np.mean(held_out[False]):
    return plain
  return Calibrator(temperature, *fit_top_bins(plain.probabilities(logits), labels))
