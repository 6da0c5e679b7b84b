"""synthetic-full: the step floor the docs state, the recipes that give it, and the images it shares with synthetic."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from zslbench.data import synthetic_full, synthetic_v2
from zslbench.data.budgets import TRAINING_LENGTHS, TrainingLength
from zslbench.errors import UsageError

DOC = Path(__file__).resolve().parents[1] / "docs" / "synthetic.md"
FULL = synthetic_full.PRESETS["synthetic-full"]


def _documented_min_steps() -> int:
    match = re.search(r"Minimum optimiser steps of the final training under `--protocol gbu` on\s+"
                      r"`synthetic-full`: \*\*([\d,]+)\*\*", DOC.read_text())
    assert match, "docs/synthetic.md must state the minimum step count of synthetic-full"
    return int(match.group(1).replace(",", ""))


def test_the_documented_step_floor_is_the_presets():
    length = TRAINING_LENGTHS["synthetic-full"]
    assert FULL.num_trainval == 44 * 152  # 44 seen classes, 32 + 120 trainval images each
    assert length.min_steps(FULL.num_trainval) == _documented_min_steps() == 2080
    assert _documented_min_steps() >= 2000  # where the patch-classifier fit reaches the attention's AUROC


@pytest.mark.parametrize("recipe_module", ["zslbench_svip.plugin", "zslbench_baselines.vit_baseline"])
def test_every_recipe_for_synthetic_full_reads_the_benchmarks_length(recipe_module):
    import importlib

    recipe = importlib.import_module(recipe_module).training_recipe("synthetic-full")
    length = TRAINING_LENGTHS["synthetic-full"]
    assert (recipe["epochs"], recipe["min_epochs"], recipe["batch_size"]) == (length.epochs, length.min_epochs, 64)
    synthetic = importlib.import_module(recipe_module).training_recipe("synthetic")

    def without_length(r: dict) -> dict:
        return {k: v for k, v in r.items() if k not in ("epochs", "min_epochs")}

    assert without_length(recipe) == without_length(synthetic)  # synthetic's recipe otherwise


def test_a_resolved_svip_run_on_synthetic_full_has_the_floor_and_synthetics_backbone():
    from zslbench.runner import resolve_run

    full = resolve_run("svip", "synthetic-full", overrides={"protocol": "gbu"}).config
    base = resolve_run("svip", "synthetic", overrides={"protocol": "gbu"}).config
    assert (full.train.epochs, full.train.min_epochs) == (24, 20)
    assert (full.backbone, full.pretrained) == (base.backbone, base.pretrained) == ("vit-synthetic-v2",
                                                                                     "synthetic-pretrained")
    assert full.method_options == base.method_options


def test_synthetic_full_pretrains_nothing_new():
    from zslbench.training.pretrain_recipes import recipe_for

    assert recipe_for("synthetic-full") == recipe_for("synthetic")  # same fingerprint, same cached file


def test_min_epochs_above_epochs_is_a_usage_error():
    from zslbench.runner import resolve_run

    with pytest.raises(UsageError, match="min_epochs"):
        resolve_run("svip", "synthetic-full", set_items=["train.epochs=3"])


def test_min_steps_drops_the_last_partial_batch():
    assert TrainingLength(epochs=3, min_epochs=2, batch_size=64).min_steps(6688) == 2 * 104


def test_the_full_scale_keeps_the_base_images_and_adds_trainval_only():
    tiny = synthetic_full.FullPreset(name="synthetic-v3-tiny-full", base="synthetic-v3-tiny",
                                     extra_trainval_per_seen_class=3)
    base_preset = synthetic_v2.PRESETS["synthetic-v3-tiny"]
    base = synthetic_v2.load_arrays(base_preset, 0)
    full = synthetic_full.load_full(tiny, 0)
    n = len(base.labels)
    assert np.array_equal(full.images.pixels[:n], base.pixels)
    assert np.array_equal(full.labels[:n], base.labels)
    for split in ("test_seen", "test_unseen"):
        assert np.array_equal(full.splits[split], base.splits[split])  # the same test images
    extra = np.setdiff1d(full.splits["trainval"], base.splits["trainval"])
    assert np.array_equal(extra, np.arange(n, n + tiny.num_extra))
    assert len(full.splits["trainval"]) == tiny.num_trainval
    seen = np.asarray(full.seen_classes)
    assert np.array_equal(np.bincount(full.labels[extra], minlength=base_preset.num_classes)[seen], [3] * len(seen))
    assert np.array_equal(full.masks[:n], (base.segmentation == synthetic_v2.BODY) | (base.segmentation == synthetic_v2.HEAD))
    # the extra images come from their own random stream: none equals an image of the base
    base_hashes = {bytes(p.tobytes()) for p in base.pixels}
    pixels = np.asarray(full.images.pixels)
    assert not any(bytes(p.tobytes()) in base_hashes for p in pixels[n:])
    assert full.meta["preset"] == "synthetic-v3-tiny-full" and full.meta["generator_version"] == 3


def test_the_extra_images_are_cached_alone_and_read_back_unchanged():
    tiny = synthetic_full.FullPreset(name="synthetic-v3-tiny-full", base="synthetic-v3-tiny",
                                     extra_trainval_per_seen_class=2)
    first = synthetic_full.load_full(tiny, 1)
    extra_file = synthetic_full._extra_path(tiny, 1)
    assert extra_file.exists() and synthetic_v2.cache_path(tiny.base_preset, 1).exists()  # the base's own file
    again = synthetic_full.load_full(tiny, 1)
    assert np.array_equal(np.asarray(first.images.pixels), np.asarray(again.images.pixels))
    stored = synthetic_full.load_extra(tiny, 1, np.asarray(first.unseen_classes))
    assert len(stored.labels) == tiny.num_extra  # only the extra images are in the full preset's file


def test_the_full_budget_sweep_files_name_the_published_grid():
    from zslbench.sweep.spec import load_sweep

    sweeps = Path(__file__).resolve().parents[1] / "benchmarks" / "sweeps"
    runs = {name: load_sweep(sweeps / f"{name}.toml").expand()
            for name in ("synthetic-full", "synthetic-full-baseline", "synthetic-full-ablation")}
    assert [len(r) for r in runs.values()] == [9, 3, 5]
    every = [spec for specs in runs.values() for spec in specs]
    assert {(s.dataset, s.protocol) for s in every} == {("synthetic-full", "gbu")}
    controls = {(s.seed, s.sets[-1]) for s in runs["synthetic-full"]}
    assert controls == {(seed, f"method.selection={sel}") for seed in (0, 1, 2)
                        for sel in ("learned", "random", "mask-oracle")}
    assert {s.method for s in runs["synthetic-full-ablation"]} == {"svip-no-ssps", "svip-no-psc", "svip-no-jsd",
                                                                    "svip-no-w2p", "svip-no-p2a"}
