import math

import pytest
import torch
from torch import nn

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
    expected = model.class_scores(data.images, ATTRS).detach().numpy()
    assert scores.shape == (10, 3)
    assert torch.allclose(torch.from_numpy(scores), torch.from_numpy(expected), atol=1e-6)
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
