"""The ``clip-zeroshot`` model: cosine scores of image and class embeddings times CLIP's logit scale (torch)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zslbench.errors import UsageError
from zslbench.models.precision import full_precision
from zslbench.models.vision_language import ClipModel, text_embeddings


def ensemble_embeddings(per_template: torch.Tensor) -> torch.Tensor:
    """(T, N, D) template embeddings -> (N, D): each normalised, averaged over templates, normalised again.

    This is the prompt ensemble of CLIP (OpenAI's ImageNet notebook: mean of the
    normalised embeddings, renormalised).
    """
    return F.normalize(F.normalize(per_template, dim=-1).mean(0), dim=-1)


class ClipZeroShot(nn.Module):
    """CLIP's zero-shot classifier over a fixed list of words (class names or attribute names).

    ``classes_from="names"``: the ``words`` are the classes, in the row order of
    the class attribute matrix the runner passes to :meth:`class_scores`.
    ``classes_from="attributes"``: the ``words`` are the attributes, and a class
    embedding is the normalised sum of the attribute embeddings weighted by the
    class's attribute values (negative values count as 0), so any set of
    classes can be scored.
    """

    def __init__(self, clip: ClipModel, words: Sequence[str], templates: Sequence[str], classes_from: str = "names",
                 text_batch_size: int = 256, cache_text: bool = True, backbone: str = "", pretrained: str | None = None):
        super().__init__()
        self.clip_model = clip.model
        self.clip, self.backbone, self.pretrained = clip, backbone, pretrained  # to find cached image embeddings
        self.classes_from = classes_from
        self.templates = tuple(templates)
        self.words = list(words)
        texts = [template.format(word) for template in self.templates for word in self.words]
        per_text = text_embeddings(clip, texts, text_batch_size, cache=cache_text)
        per_template = per_text.reshape(len(self.templates), len(self.words), -1)
        self.register_buffer("word_embeddings", ensemble_embeddings(per_template))

    def logit_scale(self) -> torch.Tensor:
        return self.clip_model.logit_scale.exp()

    def image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image-tower embeddings (B, D) of normalised images."""
        return F.normalize(full_precision(self.clip_model.encode_image(images)), dim=-1)

    def class_embeddings(self, class_attributes: torch.Tensor) -> torch.Tensor:
        """L2-normalised class embeddings (C, D) for the C rows of ``class_attributes``."""
        words = full_precision(self.word_embeddings)
        if self.classes_from == "names":
            if class_attributes.shape[0] != words.shape[0]:
                raise UsageError(f"clip-zeroshot was built for {words.shape[0]} class names but is asked to score "
                                 f"{class_attributes.shape[0]} classes")
            return words
        weights = full_precision(class_attributes).to(words.dtype).clamp_min(0)
        return F.normalize(weights @ words, dim=-1)

    def inputs_without_images(self, dataset: Any, splits: Sequence[str],
                              mean_std: tuple | None) -> tuple[dict[str, Any], dict]:
        """Where the dataset's images are absent: the cached image-tower embeddings of ``splits`` (what
        :meth:`class_scores` takes as numpy arrays) and the ``metrics.json`` entry naming their cache key.

        A missing entry is one DataError with the ``zslbench cache build`` command that makes it.
        """
        from zslbench.models.clip_image_cache import ImageEmbeddingRequest, read_image_embeddings

        request = ImageEmbeddingRequest(dataset, self.backbone, self.clip, self.clip.tower.image_size, mean_std)
        features, key = read_image_embeddings(request, tuple(splits), self.pretrained)
        return features, {"image_embeddings": {"source": "feature-cache", "backbone": self.backbone,
                                               "cache_key": key.fingerprint, "file": key.filename,
                                               "weights": key.weights_checksum}}

    def class_scores(self, images: torch.Tensor | np.ndarray, class_attributes: torch.Tensor | np.ndarray
                     ) -> torch.Tensor | np.ndarray:
        """``logit_scale * cos(image, class)`` (B, C), plus the model's logit bias where it has one (SigLIP).

        ``images``: normalised images (B, 3, H, W), or, as a numpy array, their cached image-tower embeddings
        (B, D); then the scores are a numpy array too (what feature-level evaluation takes).
        """
        if isinstance(images, np.ndarray):
            with torch.no_grad():
                embeddings = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
                image = F.normalize(embeddings.to(self.word_embeddings.device), dim=-1)
                return self._scores(image, torch.as_tensor(class_attributes)).cpu().numpy()
        return self._scores(self.image_embeddings(images), torch.as_tensor(class_attributes))

    def _scores(self, image: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        classes = self.class_embeddings(class_attributes.to(image.device)).to(image.dtype)
        scores = self.logit_scale().to(image.dtype) * image @ classes.T
        bias = getattr(self.clip_model, "logit_bias", None)
        return scores + bias.to(image.dtype) if bias is not None else scores
