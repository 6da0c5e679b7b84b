"""Models the core provides to methods: ViT backbones behind one adapter
(:mod:`~zslbench.models.backbones`) and word vectors of names (:mod:`~zslbench.models.text_encoders`)."""
