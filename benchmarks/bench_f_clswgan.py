"""f-CLSWGAN fit time on an AwA2-sized feature set.

Run: ``ZSLBENCH_BENCH_THREADS=2 .venv/bin/python -m pytest benchmarks/bench_f_clswgan.py --benchmark-only -s``

The data are random planted features of AwA2's size: 23,527 training rows x
2048 dims (the res101 features), 85-d class attributes, 40 seen classes (and
10 unseen classes for the final classifier). The options are the awa2 defaults
of ``f-clswgan`` (the authors' AwA1 settings: 30 epochs of N / 64 generator
iterations, 5 critic steps each, 4096 hidden units, 1,800 synthetic features
per unseen class), except that each of the three parts of a fit runs for a
fraction of its length: a full fit takes hours on two CPU cores. The parts,
timed separately: the seen classifier (1 of its 50 epochs), the generator
(``ZSLBENCH_BENCH_GAN_ITERATIONS`` iterations, default 5, of its 30 x 367) and
the final GZSL classifier (1 of its 25 epochs, on 23,527 real + 18,000
synthetic rows). Every epoch / iteration of a part is the same work (fixed
batch sizes), so the full fit is estimated as the sum of each part's time
scaled to its full length; the measured times are reported beside it, as
wall-clock seconds and as the process's CPU seconds (all threads; less
sensitive to other load on a shared machine than wall time).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from zslbench_baselines import f_clswgan as W
from zslbench_baselines import f_clswgan_model as WM
from zslbench_baselines import generative as G

TRAIN_ROWS, FEATURE_DIM, ATTRIBUTE_DIM, SEEN, UNSEEN = 23_527, 2048, 85, 40, 10
ITERATIONS = int(os.environ.get("ZSLBENCH_BENCH_GAN_ITERATIONS", "5"))


def awa2_sized_features(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    attributes = rng.random((SEEN + UNSEEN, ATTRIBUTE_DIM)).astype(np.float32)
    targets = np.arange(TRAIN_ROWS) % SEEN
    mixing = rng.normal(size=(ATTRIBUTE_DIM, FEATURE_DIM)).astype(np.float32)
    features = np.maximum(attributes[targets] @ mixing + rng.normal(size=(TRAIN_ROWS, FEATURE_DIM)), 0)
    return features.astype(np.float32), targets, attributes


class TimedMember:
    """The f-CLSWGAN generator trainer, timing its ``train`` call."""

    def __init__(self, member: WM.WGANGP):
        self.member, self.train_seconds, self.train_cpu_seconds = member, 0.0, 0.0

    def train(self, data: G.TrainingData) -> list[dict[str, float]]:
        start, cpu = time.perf_counter(), time.process_time()
        history = self.member.train(data)
        self.train_seconds, self.train_cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        return history

    def synthesise(self, class_embeddings: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.member.synthesise(class_embeddings, generator)


def test_fit_awa2_sized(benchmark):
    torch.set_num_threads(int(os.environ.get("ZSLBENCH_BENCH_THREADS", "2")))
    features, targets, attributes = awa2_sized_features()
    settings = W.dataset_defaults("awa2")["method"]
    full = W.FCLSWGANOptions(**settings)
    options = W.FCLSWGANOptions(**{**settings, "epochs": 1, "iterations_per_epoch": ITERATIONS,
                                   "pretrain_epochs": 1, "classifier_epochs": 1})
    full_iterations = full.epochs * (TRAIN_ROWS // full.batch_size)
    parts: dict[str, dict[str, float]] = {}

    def fit_and_score() -> None:
        member = TimedMember(WM.WGANGP(options))
        model = G.GenerativeZSL(options, member)
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(features, targets, attributes[:SEEN])
        fit, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        model.class_scores(features[:10], attributes)  # trains the final GZSL classifier
        parts["wall"] = dict(pretrain=fit - member.train_seconds, generator=member.train_seconds / ITERATIONS,
                             final=time.perf_counter() - start)
        parts["cpu"] = dict(pretrain=fit_cpu - member.train_cpu_seconds,
                            generator=member.train_cpu_seconds / ITERATIONS, final=time.process_time() - cpu)

    benchmark.pedantic(fit_and_score, rounds=1, iterations=1)
    lengths = dict(pretrain=full.pretrain_epochs, generator=full_iterations, final=full.classifier_epochs)
    info: dict = {"threads": torch.get_num_threads(), "generator_iterations_run": ITERATIONS,
                  "full_fit_lengths": lengths, "load_average_1min": os.getloadavg()[0]}
    for clock, seconds in parts.items():
        estimate = sum(seconds[k] * lengths[k] for k in lengths)
        info[f"{clock}_seconds_per_unit"] = {k: round(v, 2) for k, v in seconds.items()}
        info[f"{clock}_full_fit_seconds_estimated"] = round(estimate)
        print(f"\nf-CLSWGAN, AwA2-sized, {torch.get_num_threads()} threads, {clock} seconds: seen classifier "
              f"{seconds['pretrain']:.1f}/epoch, generator {seconds['generator']:.2f}/iteration ({ITERATIONS} run), "
              f"final classifier {seconds['final']:.1f}/epoch; full fit ({lengths}) ~ {estimate / 3600:.1f} h")
    benchmark.extra_info.update(info)
    assert parts["wall"]["generator"] > 0
