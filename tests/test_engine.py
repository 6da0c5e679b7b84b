import dataclasses
import math

import pytest
import numpy as np
import torch
from torch import nn

from zslbench.checkpoints import load_checkpoint
from zslbench.config import TrainConfig
from zslbench.checkpoints import load_checkpoint
from zslbench.training.engine import lr_for_epoch, score_images, train
from zslbench.methods import ImageZSLModel


class TinySet(torch.utils.data.Dataset):
    """Images whose mean colour encodes one of 3 classes with 2-d attributes."""

    def __init__(self, n=48, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.targets = torch.arange(n) % 3
        self.images = torch.randn(n, 3, 4, 4, generator=g) * 0.1 + self.targets.float().view(-1, 1, 1, 1)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.images[i], self.targets[i], i


class TinyModel(ImageZSLModel):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(48, 8)
        self.head = nn.Linear(8, 2)
        self.drop = nn.Dropout(0.2)  # uses the global RNG: resume must restore it

    def class_scores(self, images, class_attributes):
        return self.head(self.drop(torch.relu(self.body(images.flatten(1))))) @ class_attributes.T

    def training_losses(self, images, targets, class_attributes):
        ce = nn.functional.cross_entropy(self.class_scores(images, class_attributes), targets)
        reg = 1e-3 * self.head.weight.pow(2).sum()
        return {"loss": ce + reg, "ce": ce, "reg": reg}

    def head_parameters(self):
        return self.head.parameters()


ATTRS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def _cfg(**kw):
    base = dict(epochs=4, batch_size=8, lr=0.05, schedule="cosine", log_every_steps=100)
    base.update(kw)
    return TrainConfig(**base)


def _fresh(seed=0):
    torch.manual_seed(seed)
    return TinyModel()


def test_lr_schedules():
    cfg = _cfg(epochs=5, warmup_epochs=1, warmup_lr=0.5, lr=1.0)
    assert lr_for_epoch(cfg, 0) == 0.5
    assert lr_for_epoch(cfg, 1) == 1.0
    assert math.isclose(lr_for_epoch(cfg, 3), 0.5)
    step = _cfg(epochs=10, schedule="step", step_epochs=2, step_gamma=0.5, lr=1.0)
    assert [lr_for_epoch(step, e) for e in (0, 1, 2, 5)] == [1.0, 1.0, 0.5, 0.25]


def test_training_reduces_loss_and_logs_every_term(tmp_path):
    model = _fresh()
    result = train(model, TinySet(), ATTRS, _cfg(epochs=6), torch.device("cpu"), seed=0, progress=False)
    first, last = result.history[0].losses, result.history[-1].losses
    assert set(first) == {"loss", "ce", "reg"}
    assert last["loss"] < first["loss"] * 0.7
    assert all(h.images == 48 for h in result.history) and result.history[0].images_per_second > 0


def test_warmup_trains_heads_only():
    model = _fresh()
    body_before = model.body.weight.detach().clone()
    head_before = model.head.weight.detach().clone()
    train(model, TinySet(), ATTRS, _cfg(epochs=1, warmup_epochs=1), torch.device("cpu"), seed=0, progress=False)
    assert torch.equal(model.body.weight, body_before)
    assert not torch.equal(model.head.weight, head_before)
    assert all(p.requires_grad for p in model.parameters())  # restored after training


def test_resume_gives_identical_result(tmp_path):
    cfg = _cfg(epochs=4)
    full = _fresh()
    train(full, TinySet(), ATTRS, cfg, torch.device("cpu"), seed=3, progress=False)

    ckpt = tmp_path / "checkpoint.safetensors"
    interrupted = _fresh()

    def stop_after_two(epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return {}

    with pytest.raises(KeyboardInterrupt):
        train(interrupted, TinySet(), ATTRS, cfg, torch.device("cpu"), seed=3, checkpoint_path=ckpt,
              on_epoch_end=stop_after_two, progress=False)
    state = load_checkpoint(ckpt)
    assert state["epoch"] == 2
    resumed = _fresh(seed=123)  # different init: everything must come from the checkpoint
    torch.manual_seed(999)  # and the RNG state too
    result = train(resumed, TinySet(), ATTRS, cfg, torch.device("cpu"), seed=3, checkpoint_path=ckpt,
                   resume=state, progress=False)
    assert result.resumed_from_epoch == 2 and len(result.history) == 4
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_score_images_in_dataset_order():
    model = _fresh().eval()
    data = TinySet(n=10)
    scores, targets = score_images(model, data, ATTRS, batch_size=3, device=torch.device("cpu"))
    # the same batches through the same model: identical inputs give identical bits on any CPU
    expected = torch.cat([model.class_scores(data.images[i:i + 3], ATTRS) for i in range(0, 10, 3)]).detach().numpy()
    assert scores.shape == (10, 3)
    assert np.array_equal(scores, expected)
    assert targets.tolist() == data.targets.tolist()


def test_compiled_step_matches_eager():
    pytest.importorskip("torch._dynamo")
    eager, compiled = _fresh(), _fresh()
    eager.drop.p = compiled.drop.p = 0.0
    cfg = _cfg(epochs=1)
    train(eager, TinySet(), ATTRS, cfg, torch.device("cpu"), seed=0, progress=False)
    try:
        train(compiled, TinySet(), ATTRS, TrainConfig(**{**cfg.__dict__, "compile": True}), torch.device("cpu"),
              seed=0, progress=False)
    except Exception as exc:  # no C++ compiler on the machine: torch.compile cannot run here
        pytest.skip(f"torch.compile unavailable: {type(exc).__name__}")
    for a, b in zip(eager.parameters(), compiled.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


# ----------------------------------------------------------------------------- SVIP's public training loop


def test_schedule_counted_from_the_first_epoch_after_a_heads_only_warm_up():
    # the code: heads-only while iepoch <= pre_epochs (pre_epochs = 3 -> 4 epochs), then lr * 0.8 ** (iepoch // 5)
    cfg = _cfg(epochs=12, warmup_epochs=4, warmup_lr=0.5, lr=1.0, schedule="step", step_epochs=5, step_gamma=0.8,
               schedule_origin="first_epoch")
    expected = [0.5] * 4 + [1.0 * 0.8 ** (e // 5) for e in range(4, 12)]
    assert [lr_for_epoch(cfg, e) for e in range(12)] == pytest.approx(expected)
    assert lr_for_epoch(dataclasses.replace(cfg, schedule_origin="warmup_end"), 9) == pytest.approx(0.8)


def _adam_steps(checkpoint) -> set[int]:
    state = load_checkpoint(checkpoint)["optimizer"]["state"]
    return {int(s["step"]) for s in state.values()}


def test_reset_optimizer_every_epoch_builds_a_new_adam_after_the_warm_up(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    steps_per_epoch = 48 // 8
    for reset, epochs, expected in (("every_epoch", 3, {steps_per_epoch}), ("never", 3, {3 * steps_per_epoch})):
        cfg = _cfg(epochs=epochs, optimizer="adam", reset_optimizer=reset)
        train(_fresh(), TinySet(), ATTRS, cfg, torch.device("cpu"), seed=0, checkpoint_path=ckpt, progress=False)
        assert _adam_steps(ckpt) == expected, reset
    # the warm-up keeps one optimizer through its epochs: 2 warm-up epochs -> 2 x steps on the heads
    cfg = _cfg(epochs=2, optimizer="adam", warmup_epochs=2, reset_optimizer="every_epoch", warmup_grads="accumulate")
    train(_fresh(), TinySet(), ATTRS, cfg, torch.device("cpu"), seed=0, checkpoint_path=ckpt, progress=False)
    state = load_checkpoint(ckpt)["optimizer"]
    assert _adam_steps(ckpt) == {2 * steps_per_epoch}
    assert len(state["param_groups"][0]["params"]) == 2  # the head's weight and bias only


def test_accumulated_warm_up_gradients_are_never_stepped_but_count_in_the_clipping_norm():
    moved = {}
    for mode in ("heads", "accumulate"):
        model = _fresh()
        body_before = model.body.weight.detach().clone()
        head_before = model.head.weight.detach().clone()
        cfg = _cfg(epochs=1, optimizer="sgd", momentum=0.0, warmup_epochs=1, warmup_grads=mode, grad_clip_norm=1e-3,
                   max_steps_per_epoch=3)
        train(model, TinySet(), ATTRS, cfg, torch.device("cpu"), seed=0, progress=False)
        assert torch.equal(model.body.weight, body_before)  # frozen either way: not in the warm-up optimizer
        moved[mode] = float((model.head.weight.detach() - head_before).norm())
        if mode == "accumulate":  # never zeroed: the body's gradient piles up over the 3 steps
            assert model.body.weight.grad is not None and model.body.weight.grad.abs().sum() > 0
    # the body's gradient enlarges the clipping norm, so the heads' clipped SGD steps are shorter
    assert moved["accumulate"] < 0.9 * moved["heads"], moved
    shuffled = _cfg(epochs=1, shuffle=False)
    from zslbench.training.engine import _loader_for_epoch

    order = [int(i) for _, _, idx in _loader_for_epoch(TinySet(), shuffled, 0, 0, False) for i in idx]
    assert order == list(range(48))


def test_unknown_recipe_values_are_usage_errors():
    from zslbench.errors import UsageError

    with pytest.raises(UsageError, match="reset_optimizer"):
        train(_fresh(), TinySet(), ATTRS, _cfg(reset_optimizer="sometimes"), torch.device("cpu"), seed=0,
              progress=False)
