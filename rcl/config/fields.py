"""Command-line metadata of configuration fields: help text, bounds, choices and flag names.

The training settings (`rcl.train.fit_config.FitConfig`) and the architecture hyper-parameters
(`rcl.models.monikers.Hyper`) are defined in their own layers without it; their flags are described here, in
the configuration that holds them (a field's metadata 'fields'). The configuration holds one FitConfig per
family (CNN, RNN, collaborative MLP); the settings they share are one flag each (--batch_size sets every
family's), those of one family carry its prefix (--cnn_epochs, --rnn_clip_norm, --collab_epochs), and a
shared one marked 'override' can also be set for one family (--rnn_augment_flanks beside --augment_flanks).
"""

from __future__ import annotations

from rcl.data import flanks
from rcl.models import cnn
from rcl.train.fit_config import SELECTION_RULES


def field_help(text: str, **more) -> dict:
  """A field's flag metadata: its help text and 'lower' bound, 'choices' or 'flag' name."""
  return {"help": text, **more}


NO_FLAG = {"flag": None}  # a field set by the configuration itself, never on the command line

_SHARED = {
    "batch_size": field_help("Training batch size.", lower=1),
    "eval_batch_size": field_help("Evaluation batch size.", lower=1),
    "learning_rate": field_help("Adam learning rate (paper: Keras default).", lower=0.0),
    "checkpoint_every": field_help("Epochs between resumable checkpoints.", lower=1),
    "selection": field_help("Model selection rule.", choices=SELECTION_RULES),
    "augment_flanks": field_help("Share of training records given fresh random flanks every epoch (boundary-noise "
                                 "augmentation; 0: none, the paper).", lower=0.0, override=True),
    "augment_flank_max": field_help("Largest training flank level, % of the record's length (each flanked record "
                                    "draws its level uniformly below it).", lower=0.0),
    "augment_flank_kind": field_help("Training flanks: the record's dinucleotides, uniform nucleotides, or either "
                                     "('mixed').", choices=flanks.AUGMENT_KINDS),
}
# the run's seeds; the family's buckets
_SET_BY_THE_RUN = {"seed": NO_FLAG, "init_seed": NO_FLAG, "order_seed": NO_FLAG, "noise_seed": NO_FLAG,
                   "bucket_lengths": NO_FLAG}


def _shared(names) -> dict:
  return {name: dict(_SHARED[name], flag=name) for name in names}


FAMILY = {  # a component family's FitConfig: the shared settings, and its own epochs, averaging and clipping
    **_shared(_SHARED), **_SET_BY_THE_RUN,
    "epochs": field_help("Training epochs.", lower=1),
    "ema_decay": field_help("Per-step decay of a moving average of the parameters that is validated, selected and "
                            "kept instead of the raw ones (0: off, the paper).", lower=0.0),
    "clip_norm": field_help("Clip gradients to this global norm before Adam (0: no clipping, the paper).", lower=0.0),
}

COLLAB = {  # the collaborative MLP's FitConfig: it learns from features, so it gets no training flanks
    **_shared(n for n in _SHARED if n not in ("selection", "augment_flanks")), **_SET_BY_THE_RUN,
    "epochs": field_help("Epochs of each collaborative MLP.", lower=1, flag="collab_epochs"),
    "selection": field_help("Model selection rule of the collaborative MLPs.", choices=SELECTION_RULES,
                            flag="collab_selection"),
    "augment_flanks": NO_FLAG, "ema_decay": NO_FLAG, "clip_norm": NO_FLAG,
}

HYPER = {
    "reg_level": field_help("Regularisation level lambda: noise sigma = lambda, dropout = lambda x 50%."),
    "cnn_filters": field_help("Override every CNN's filter count (small profiles).", lower=1),
    "cnn_kernel": field_help("CNN convolution width.", lower=1),
    "cnn_blocks": field_help("CNN convolution blocks.", lower=1),
    "cnn_head": field_help("CNN head: 'flatten' (the paper) or pooled over positions, 'max' or 'max_mean', or a dense "
                           "window slid over positions, 'window' (robust to flanks; trains on length buckets).",
                           choices=cnn.HEADS),
    "cnn_head_width": field_help("Width of the 'window' head, in final-layer positions (x 2^blocks nucleotides).",
                                 lower=1),
    "cnn_dense": field_help("CNN dense widths (last = LD features).", lower=1),
    "rnn_hidden": field_help("GRU units per direction.", lower=1),
    "rnn_attention": field_help("Attention projection width.", lower=1),
    "rnn_dense": field_help("RNN dense widths (last = LD features).", lower=1),
    "compute_dtype": field_help("Arithmetic dtype of the components' layers (parameters stay float32).",
                                choices=("float32", "bfloat16")),
}
