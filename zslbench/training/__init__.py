"""Training: the method-agnostic loop (:mod:`~zslbench.training.engine`), torchrun/DDP helpers
(:mod:`~zslbench.training.distributed`) and losses shared by methods (:mod:`~zslbench.training.losses`)."""
