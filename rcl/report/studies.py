"""report.md's study sections: the regularisation sweep, the CNN-RNN feature analysis and boundary noise."""

from __future__ import annotations

from rcl.analysis.joint import plateau_level
from rcl.models import noise
from rcl.report import paper
from rcl.report.protocol import setting
from rcl.report.tables import fmt, head

_PLATEAU_TOL = setting(plateau_level, "tol")
_OBSERVED, _REPRESENTATIVE = paper.CCA_OBSERVED, paper.CCA_REPRESENTATIVE
_FLANKS = {"dinucleotide": "its own dinucleotides", "uniform": "uniform random nucleotides"}


def sweep_section(sw: dict) -> list[str]:
  """The regularisation sweep: per-level table and Fig. 3-4."""
  lines = [f"## Robustness by design: regularisation sweep of {sw['moniker']} (Fig. 3–4)", "",
           f"One population of {len(sw['levels'])} models trained together (vmapped step, same batches), "
           f"{sw['epochs']} epochs, burn-in {sw['burn_in']} epochs; {noise.RULE}. "
           f"Validation accuracy peaks at λ = {sw['peak_val_accuracy_level']:g} ({sw['peak_val_accuracy']:.3f}); "
           f"the joint learning coefficient stops rising (no later gain above {_PLATEAU_TOL:g}) at λ = "
           f"{fmt(sw['coefficient_plateau_level'], 'g')}. The paper (Model A, 500 epochs): peak at λ = 0.8, "
           "plateau at λ = 1.2.", "",
           *head(["λ", "noise σ", "dropout", "joint coeff. (accuracy)", "joint coeff. (loss)", "slope (Fig. 3)",
                  "best val accuracy"])]
  for r in sw["rows"]:
    lines.append(f"| {r['level']:g} | {r['noise']:g} | {r['dropout']:.0%} | {fmt(r['joint_accuracy'])} | "
                 f"{fmt(r['joint_loss'])} | {fmt(r['slope'])} | {r['best_val_accuracy']:.3f} |")
  return lines + ["", "![Fig. 4](sweep/fig4.png)", "", f"Fig. 3 panels: {', '.join(sw['fig3_levels'])}.", "",
                  "![Fig. 3](sweep/fig3.png)", ""]


def feature_section(fa: dict) -> list[str]:
  """CCA / PCA of two components' LD features and the Monte Carlo calibration (Fig. 5), both statistics."""
  x, y = fa["pair"]
  mc = fa["monte_carlo"]
  maps = fa["paper_095_maps_to"]
  return [f"## Are the CNN and RNN learning the same features? LD({x}) vs LD({y}) (Sec. 4, Fig. 5)", "",
          f"- Validation set, {fa['rows']} sequences; feature widths {fa['widths']} "
          f"(effective, without dead units: {fa['effective_widths']}).",
          f"- Average canonical correlation: {fa['average_cca']:.3f} (paper: {_OBSERVED:g}); representative uniform "
          f"correlation ρ from the Monte Carlo calibration of that statistic: {fa['representative_rho']:.3f}.",
          f"- Largest canonical correlation (what a one-component CCA reports): {fa['first_cca']:.3f}; "
          f"representative ρ under the calibration of that statistic: {fa['first_representative_rho']:.3f}.",
          f"- Calibration: N = {mc['trials']} trials per ρ on a {len(mc['rho'])}-point grid at n = {mc['n']}, "
          f"p = {mc['p']}, q = {mc['q']}; {fa['seconds']:.0f} s for both statistics.",
          f"- Which statistic reproduces the paper's \"{_OBSERVED:.0%} CCA ↔ ρ ≈ {_REPRESENTATIVE:.0%}\"? At these "
          f"shapes an observed {_OBSERVED:g} maps to ρ = {maps['average']:.3f} under the average and "
          f"ρ = {maps['largest']:.3f} under the largest canonical correlation: the **{fa['paper_reproduced_by']}** "
          f"canonical correlation comes closer to {_REPRESENTATIVE:g}. The paper's caption says \"average\"; both "
          "panels are drawn.",
          f"- Correlation of the first principal components: {fa['first_pc_correlation']:.3f} (paper: 0.64); "
          f"explained variance of each first component: {fa['first_pc_explained_variance'][0]:.3f}, "
          f"{fa['first_pc_explained_variance'][1]:.3f}.", "",
          "![Fig. 5](fig5.png)", ""]


def boundary_section(bn: dict) -> list[str]:
  """Accuracy and macro-F1 of every model against boundary noise, test and validation splits."""
  table_head = head(["Model", *(f"{v:g}%" for v in bn["levels"])])
  lines = ["## Boundary noise: flanked records (Noviello et al. 2020)", "",
           f"Every validation and test record gets random flanks totalling the given share of its length, half "
           f"on each side, made of {_FLANKS[bn['kind']]} (one seeded draw per level and split, seed {bn['seed']}); "
           "models are those selected on clean validation data. The validation rows are what choices may use; the "
           "test rows are reported only.", ""]
  for split, metric, label in (("test", "accuracy", "Test accuracy"), ("test", "f1_macro", "Test macro F1"),
                               ("val", "accuracy", "Validation accuracy")):
    lines += [f"{label}:", "", *table_head]
    for name, curve in bn["models"].items():
      lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in curve[split][metric]) + " |")
    lines.append("")
  return lines + [f"![Boundary noise]({bn['figure']})", ""]
