"""``zslbench.evaluate_model``: a model in memory scored exactly as a run of a training-free method, nothing stored."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import zslbench
from zslbench.errors import UsageError
from zslbench.image_model import ImageZSLModel
from zslbench.methods import MethodSpec


class PooledProjection(ImageZSLModel):
    """Scores from 4x4-pooled pixels projected onto the attributes by a fixed (seeded) matrix: no training."""

    def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images, 4).flatten(1)
        generator = torch.Generator().manual_seed(7)
        projection = torch.randn(pooled.shape[1], class_attributes.shape[1], generator=generator)
        return (pooled @ projection.to(images.device)) @ class_attributes.T


class ScorerOnly:
    """Not a torch module: only ``class_scores``."""

    def class_scores(self, images: torch.Tensor, class_attributes: torch.Tensor) -> torch.Tensor:
        return PooledProjection().class_scores(images, class_attributes)


@dataclass
class NoOptions:
    pass


SPEC = MethodSpec(name="pooled-projection", build=lambda context, options: PooledProjection(),
                  options_type=NoOptions, kind="training-free")


@pytest.mark.parametrize("protocol", ["standard", "gbu"])
def test_evaluate_model_gives_the_test_metrics_of_a_stored_run_and_stores_nothing(tmp_path, monkeypatch,
                                                                                  forget_in_process, protocol):
    store_root = tmp_path / "runs"
    stored = zslbench.run(SPEC, "synthetic-tiny", protocol=protocol, out=str(store_root), device="cpu")
    monkeypatch.setenv("ZSLBENCH_RUNS", str(tmp_path / "default-store"))
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    metrics = zslbench.evaluate_model(PooledProjection(), "synthetic-tiny", protocol=protocol)
    assert metrics["test"] == stored.metrics["test"]
    assert metrics["curve"] == stored.metrics["curve"] and metrics["counts"] == stored.metrics["counts"]
    if protocol == "gbu":
        assert metrics["validation"] == stored.metrics["validation"]
        assert metrics["test"]["cs_gamma"] == metrics["validation"]["chosen_gamma"]  # the gamma chosen on validation
    else:
        assert "validation" not in metrics
    assert sorted(tmp_path.rglob("*")) == before  # no run directory, no store anywhere


def test_any_object_with_class_scores_and_an_in_memory_dataset(tmp_path):
    dataset = zslbench.load_dataset("synthetic-tiny")
    as_module = zslbench.evaluate_model(PooledProjection(), "synthetic-tiny", protocol="gbu")
    plain = zslbench.evaluate_model(ScorerOnly(), dataset, protocol="gbu")
    assert plain["test"] == as_module["test"] and plain["validation"] == as_module["validation"]


def test_bad_arguments_are_usage_errors():
    with pytest.raises(UsageError, match="protocol"):
        zslbench.evaluate_model(PooledProjection(), "synthetic-tiny", protocol="published")
    with pytest.raises(UsageError, match="class_scores"):
        zslbench.evaluate_model(object(), "synthetic-tiny")
    with pytest.raises(UsageError, match="unknown dataset"):
        zslbench.evaluate_model(PooledProjection(), "no-such-dataset")
