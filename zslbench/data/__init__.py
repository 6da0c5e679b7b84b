"""Datasets: the data model and every loader.

* :mod:`~zslbench.data.dataset` - :class:`ZSLDataset`, image sources, ``validation_split``;
* :mod:`~zslbench.data.transforms`, :mod:`~zslbench.data.masks`, :mod:`~zslbench.data.show` - serving and showing images;
* single-label: :mod:`~zslbench.data.synthetic` (+ ``h5cache``), :mod:`~zslbench.data.xlsa17`
  (+ ``matfiles``, ``attributes``, ``check``, ``xlsa17_specs``);
* multi-label: :mod:`~zslbench.data.synthetic_multilabel`, :mod:`~zslbench.data.nuswide`,
  :mod:`~zslbench.data.openimages` (+ ``multilabel_files``, ``multilabel_specs``).

A multi-label :class:`~zslbench.data.dataset.ZSLDataset` (``task="multi-label"``)
holds one row of ``labels`` per image over all labels (+1 present, -1 absent,
0 not annotated); ``class_names`` are the label names and ``class_attributes``
the labels' word vectors (L, D); ``seen_classes`` / ``unseen_classes`` are the
seen and unseen label ids; splits are ``trainval`` and ``test``.
"""
