"""Multi-label zero-shot learning: protocol, datasets, the ranking loss and the run flow.

* :mod:`zslbench.multilabel.metrics` - mAP over labels and F1@K (ZSL and GZSL);
* :mod:`zslbench.multilabel.losses` - the field's pairwise ranking loss, shared by methods;
* :mod:`zslbench.multilabel.synthetic` - the embedded ``synthetic-multilabel`` benchmarks;
* :mod:`zslbench.multilabel.nuswide`, :mod:`zslbench.multilabel.openimages` - readers of the users' copies;
* :mod:`zslbench.multilabel.runner` - train, score and evaluate one multi-label run;
* :mod:`zslbench.multilabel.specs` - the dataset registrations.

A multi-label :class:`~zslbench.data.dataset.ZSLDataset` (``task="multi-label"``)
holds one row of ``labels`` per image over all labels (+1 present, -1 absent,
0 not annotated); ``class_names`` are the label names and ``class_attributes``
the labels' word vectors (L, D); ``seen_classes`` / ``unseen_classes`` are the
seen and unseen label ids; splits are ``trainval`` and ``test``.
"""

from __future__ import annotations

#: Label values of a multi-label annotation matrix.
POSITIVE = 1
NEGATIVE = -1
UNANNOTATED = 0

#: Splits of every multi-label dataset.
MULTILABEL_SPLITS = ("trainval", "test")
