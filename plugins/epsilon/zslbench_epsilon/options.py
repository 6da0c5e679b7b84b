"""Epsilon's options (``--set method.<field>=...``), importable without torch.

The plugin registers its spec from this module; :mod:`zslbench_epsilon.model`
is imported only when a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from zslbench.errors import UsageError

FUSIONS = ("gate", "residual", "union")
READOUTS = ("max", "logsumexp")
GLOBAL_SOURCES = ("cls+mean", "cls", "mean")
REGULARISERS = ("prompt-diversity", "output-norm", "none")


@dataclass
class EpsilonOptions:
    """Epsilon's options (``--set method.<field>=...``); the defaults are zslbench's choices, not the paper's."""

    num_prompts: int = 8  # GPA group prompts (semantic prompts per image)
    gpa_depth: int = 1  # cross-attention + MLP layers of GPA
    gpa_heads: int = 4  # attention heads of GPA (must divide the backbone width)
    prompt_self_attention: bool = False  # prompts also attend to each other (keys = prompts + patches)
    global_outputs: int = 1  # GFP output vectors
    global_source: str = "cls+mean"  # what GFP reads: cls+mean | cls | mean
    global_hidden_ratio: float = 2.0  # GFP MLP hidden width / backbone width
    fusion: str = "gate"  # gate | residual | union
    readout: str = "max"  # per-label score over a branch's vectors: max | logsumexp
    regulariser: str = "prompt-diversity"  # prompt-diversity | output-norm | none
    regulariser_weight: float = 0.1
    margin: float = 1.0  # ranking-loss margin
    dropout: float = 0.0
    # frozen, as Fig. 2 of the paper reportedly shows (docs/methods/epsilon.md); the synthetic presets fine-tune
    # their from-scratch backbones, which have no pretrained features to freeze
    freeze_backbone: bool = True

    def validate(self, backbone_dim: int) -> None:
        """Raise UsageError for values outside the options' domains."""
        checks = (
            (self.num_prompts >= 1, "method.num_prompts must be >= 1"),
            (self.gpa_depth >= 1, "method.gpa_depth must be >= 1"),
            (self.gpa_heads >= 1 and backbone_dim % self.gpa_heads == 0,
             f"method.gpa_heads must divide the backbone width {backbone_dim}"),
            (self.global_outputs >= 1, "method.global_outputs must be >= 1"),
            (self.global_hidden_ratio > 0, "method.global_hidden_ratio must be positive"),
            (self.global_source in GLOBAL_SOURCES, f"method.global_source is one of {', '.join(GLOBAL_SOURCES)}"),
            (self.fusion in FUSIONS, f"method.fusion is one of {', '.join(FUSIONS)}"),
            (self.readout in READOUTS, f"method.readout is one of {', '.join(READOUTS)}"),
            (self.regulariser in REGULARISERS, f"method.regulariser is one of {', '.join(REGULARISERS)}"),
            (self.regulariser_weight >= 0, "method.regulariser_weight must be >= 0"),
            (self.margin > 0, "method.margin must be positive"),
            (0 <= self.dropout < 1, "method.dropout must be in [0, 1)"),
        )
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
