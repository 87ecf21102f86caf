"""Are CNN and RNN learning the same features? (paper, Sec. 4 and Fig. 5) CCA, PCA and their calibration."""

from __future__ import annotations

import os
import time

import numpy as np

from rcl.analysis import cca, cca_simulation
from rcl.report import figures, paper



def run(x: np.ndarray, y: np.ndarray, names: tuple[str, str], trials: int, n_rhos: int, seed: int,
        outdir: str) -> dict:
  """Compares two feature sets of the same sequences and writes fig5.png under `outdir`.

  Args:
    x, y: float[n, p] and float[n, q], e.g. LD(A) and LD(E) on the validation set.
    names: their component monikers, for the record.
    trials: Monte Carlo trials per rho (paper: 1000).
    n_rhos: points of the rho grid in [0, 1].
    seed: seeds the simulation.
    outdir: where fig5.png goes.

  Returns:
    The observed average canonical correlation, the representative rho it corresponds to under the
    Monte Carlo calibration (simulated at the features' effective widths, dead units excluded), the
    correlation of the first principal components, PCA explained-variance ratios, and the curve.
  """
  t0 = time.perf_counter()
  correlations = cca.canonical_correlations(x, y)
  observed = float(correlations.mean())
  p, q = cca.feature_rank(x), cca.feature_rank(y)
  rhos = np.linspace(0.0, 1.0, n_rhos)
  curve = cca_simulation.simulate_cca_curve(x.shape[0], max(p, q), min(p, q), rhos, trials, seed)
  representative = cca_simulation.representative_correlation(observed, curve)
  # The paper's wording is "average canonical correlation"; the first (largest) one is what a
  # one-component CCA reports, and is calibrated too so a reader can compare either with the paper.
  first_curve = cca_simulation.simulate_cca_curve(x.shape[0], max(p, q), min(p, q), rhos, trials, seed,
                                                  statistic="first")
  first_representative = cca_simulation.representative_correlation(float(correlations[0]), first_curve)
  _, ratio_x = cca.pca(x, 1)
  _, ratio_y = cca.pca(y, 1)
  # Which statistic turns the paper's observed 0.95 into its representative 0.85 at our shapes?
  paper_rho = {"average": cca_simulation.representative_correlation(paper.CCA_OBSERVED, curve),
               "largest": cca_simulation.representative_correlation(paper.CCA_OBSERVED, first_curve)}
  figures.figure5(os.path.join(outdir, "fig5.png"),
                  [("average canonical correlation", curve, observed, representative),
                   ("largest canonical correlation", first_curve, float(correlations[0]), first_representative)],
                  paper=(paper.CCA_OBSERVED, paper.CCA_REPRESENTATIVE))
  as_json = lambda c: {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()}  # noqa: E731
  return {
      "pair": list(names), "split": "val", "rows": int(x.shape[0]), "widths": [int(x.shape[1]), int(y.shape[1])],
      "effective_widths": [int(p), int(q)], "average_cca": observed, "representative_rho": representative,
      "first_cca": float(correlations[0]), "first_representative_rho": first_representative,
      "canonical_correlations": correlations.tolist(),
      "first_pc_correlation": cca.first_pc_correlation(x, y),
      "paper_095_maps_to": paper_rho,
      "paper_reproduced_by": min(paper_rho, key=lambda k: abs(paper_rho[k] - paper.CCA_REPRESENTATIVE)),
      "first_pc_explained_variance": [float(ratio_x[0]), float(ratio_y[0])],
      "monte_carlo": as_json(curve), "monte_carlo_first": as_json(first_curve),
      "seconds": time.perf_counter() - t0,
  }


def stage(config, component_features: dict, *, log) -> dict:
  """The analysis stage: CCA/PCA of the configured pair's validation LD features (empty when off)."""
  analysis = config.analysis
  if analysis.cca_trials <= 0:
    return {}
  x, y = analysis.cca_pair
  log(f"feature analysis: CCA and PCA of LD({x}) vs LD({y}) on validation, {analysis.cca_trials} Monte Carlo trials")
  out = run(component_features[x]["val"]["LD"], component_features[y]["val"]["LD"], (x, y), analysis.cca_trials,
            analysis.cca_rhos, config.seed, config.workdir)
  log(f"average CCA {out['average_cca']:.3f} ~ representative rho {out['representative_rho']:.3f}; first-PC "
      f"correlation {out['first_pc_correlation']:.3f} ({out['seconds']:.0f} s)")
  return {"feature_analysis": out}
