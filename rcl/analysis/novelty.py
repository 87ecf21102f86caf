"""Novelty scores: how far a sequence lies from every class a model knows, higher meaning more novel, and the
threshold rule that turns a score into an 'unclassified' call.

Scores (all from one forward pass; `Outputs` holds what they read):
  max_prob     1 - the largest calibrated probability (Hendrycks & Gimpel 2017);
  energy       -logsumexp of the logits (Liu et al. 2020; a plain ensemble: its members' mean);
  mahalanobis  the squared Mahalanobis distance of the last-dense (LD) features to the nearest class mean,
               under one covariance shared by the classes, fitted on the training features (Lee et al. 2018);
  knn          1 - the cosine similarity of the L2-normalised LD features to their K-th nearest training
               feature (Sun et al. 2022);
  background   the log-odds of a background class learnt on the same features: a logistic regression of
               generated decoys (of the training split) against the training records (Hendrycks et al.
               2019's outlier exposure, as a head on the frozen features rather than a retrained network).

scikit-learn (the background head's logistic regression, the AUROC) is imported where it is used: it takes
about a second to import, and `experiments.run` imports this module at start, `rcl classify` with a bundle.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rcl.analysis import calibration

SCORES = ("max_prob", "energy", "mahalanobis", "knn", "background")
K = 10  # the neighbour the knn score measures to
RIDGE = 1e-3  # added to the shared covariance's diagonal, times its mean variance: dead ReLU units stay finite


@dataclasses.dataclass
class Outputs:
  """What a model gives for n sequences.

  Attributes:
    logits: float32[n, classes] (a plain ensemble: the log of its mean probabilities).
    energy: float32[n], -logsumexp(logits) of the network (a plain ensemble: its members' mean).
    features: float32[n, d], the features the distance scores read (a component: LD; a collaborative model:
      its standardised combined input; a plain ensemble: its members' LD side by side).
  """
  logits: np.ndarray
  energy: np.ndarray
  features: np.ndarray

  def __len__(self) -> int:
    return len(self.logits)


def energy(logits: np.ndarray) -> np.ndarray:
  """float32[n] -logsumexp(logits)."""
  z = np.asarray(logits, np.float64)
  top = z.max(-1)
  return (-(top + np.log(np.exp(z - top[:, None]).sum(-1)))).astype(np.float32)


@dataclasses.dataclass
class Reference:
  """What the distance scores compare with, fitted on training features.

  Attributes:
    whiten: float32[d, d], W with W W^T = (shared covariance + ridge)^-1, so Mahalanobis distances are
      Euclidean after x -> x W.
    means: float32[classes, d], the class means after whitening.
    bank: float32[m, d] L2-normalised training features for knn, or None when the knn score is not kept.
    background: float32[d + 1], the background head's weights and bias, or None.
  """
  whiten: np.ndarray
  means: np.ndarray
  bank: np.ndarray | None = None
  background: np.ndarray | None = None

  def arrays(self) -> dict[str, np.ndarray]:
    """The arrays to store; the bank as float16 (half the size), which it already holds exactly."""
    bank = {} if self.bank is None else {"bank": self.bank.astype(np.float16)}
    background = {} if self.background is None else {"background": self.background}
    return {"whiten": self.whiten, "means": self.means, **bank, **background}

  @classmethod
  def from_arrays(cls, arrays) -> "Reference":
    return cls(arrays["whiten"], arrays["means"], arrays["bank"].astype(np.float32) if "bank" in arrays else None,
               arrays["background"] if "background" in arrays else None)


def shared_covariance(features: np.ndarray, labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
  """(float64[classes, d] class means, float64[d, d] the pooled within-class covariance, maximum likelihood:
  the mean outer product of every feature's deviation from its class mean). A class without records gets
  the overall mean."""
  x = np.asarray(features, np.float64)
  means = np.tile(x.mean(0), (classes, 1))
  for c in np.unique(labels):
    means[c] = x[labels == c].mean(0)
  centred = x - means[labels]
  return means, centred.T @ centred / len(x)


def fit_reference(features: np.ndarray, labels: np.ndarray, classes: int, keep_bank: bool = True,
                  decoys: np.ndarray | None = None) -> Reference:
  """The Mahalanobis statistics (and, with `keep_bank`, the knn bank) of training features float32[n, d], and
  with `decoys` (float32[m, d], the features of decoys of the training split) the background head."""
  means, cov = shared_covariance(features, labels, classes)
  cov = cov + RIDGE * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
  values, vectors = np.linalg.eigh(cov)
  whiten = vectors / np.sqrt(values)
  bank = _normalised(features).astype(np.float16).astype(np.float32) if keep_bank else None  # as stored
  head = None if decoys is None else fit_background(features, decoys)
  return Reference(whiten.astype(np.float32), (means @ whiten).astype(np.float32), bank, head)


def fit_background(known: np.ndarray, decoys: np.ndarray) -> np.ndarray:
  """float32[d + 1] weights and bias of an L2-regularised logistic regression of decoys (1) against known
  records (0), classes weighted equally, on standardised features (the standardisation folded in)."""
  x = np.concatenate([known, decoys]).astype(np.float64)
  y = np.r_[np.zeros(len(known)), np.ones(len(decoys))]
  mean, std = x.mean(0), x.std(0)
  std = np.where(std > 1e-6, std, 1.0)
  from sklearn.linear_model import LogisticRegression  # noqa: PLC0415  (imported on use: module docstring)
  model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit((x - mean) / std, y)
  w = model.coef_[0] / std
  return np.r_[w, model.intercept_[0] - mean @ w].astype(np.float32)


def _normalised(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float32)
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def mahalanobis(features: np.ndarray, reference: Reference) -> np.ndarray:
  """float32[n] the squared Mahalanobis distance to the nearest class mean."""
  z = np.asarray(features, np.float32) @ reference.whiten
  d2 = (z * z).sum(-1)[:, None] - 2 * z @ reference.means.T + (reference.means ** 2).sum(-1)[None]
  return np.maximum(d2.min(-1), 0.0)


def knn(features: np.ndarray, reference: Reference, k: int = K, chunk: int = 4096) -> np.ndarray:
  """float32[n] 1 - cosine similarity to the k-th nearest training feature."""
  if reference.bank is None:
    raise ValueError("this reference keeps no training features for the knn score")
  x = _normalised(features)
  k = min(k, len(reference.bank))
  out = np.empty(len(x), np.float32)
  for start in range(0, len(x), chunk):
    similarity = x[start:start + chunk] @ reference.bank.T
    out[start:start + chunk] = 1.0 - np.partition(similarity, -k, axis=-1)[:, -k]
  return out


def score(name: str, outputs: Outputs, temperature: float, reference: Reference) -> np.ndarray:
  """float32[n] novelty score `name` (SCORES) of a model's outputs; higher is more novel."""
  if name == "max_prob":
    return (1.0 - calibration.softmax(outputs.logits, temperature).max(-1)).astype(np.float32)
  if name == "energy":
    return np.asarray(outputs.energy, np.float32)
  if name == "mahalanobis":
    return mahalanobis(outputs.features, reference)
  if name == "knn":
    return knn(outputs.features, reference)
  if name == "background":
    if reference.background is None:
      raise ValueError("this reference has no background head")
    return (np.asarray(outputs.features, np.float32) @ reference.background[:-1] + reference.background[-1])
  raise ValueError(f"unknown novelty score {name!r}: choose one of {SCORES}")


def threshold(known: np.ndarray, keep: float) -> float:
  """The smallest score threshold t with at least a share `keep` of the known-class scores <= t (a record is
  called a class when its score is <= t, 'unclassified' above)."""
  if not 0 < keep <= 1:
    raise ValueError(f"keep must lie in (0, 1], got {keep}")
  ordered = np.sort(np.asarray(known, np.float64))
  return float(ordered[int(np.ceil(keep * len(ordered))) - 1])


def auroc(known: np.ndarray, novel: np.ndarray) -> float:
  """Area under the ROC curve of telling novel (positive) from known records by the score."""
  y = np.r_[np.zeros(len(known)), np.ones(len(novel))]
  from sklearn.metrics import roc_auc_score  # noqa: PLC0415  (imported on use: module docstring)
  return float(roc_auc_score(y, np.r_[known, novel]))


def accepted(scores: np.ndarray, limit: float) -> float:
  """The share of records called a class (score <= limit): on novel records, the false-acceptance rate."""
  return float(np.mean(np.asarray(scores) <= limit))


def coverage_curve(scores: np.ndarray, correct: np.ndarray, points: int = 50) -> dict[str, list[float]]:
  """Accuracy of the most confident records (lowest scores) against their share of all records."""
  order = np.argsort(scores, kind="stable")
  hits = np.cumsum(np.asarray(correct, np.float64)[order])
  sizes = np.unique(np.linspace(1, len(order), points).round().astype(int))
  return {"coverage": (sizes / len(order)).tolist(), "accuracy": (hits[sizes - 1] / sizes).tolist()}
