"""One train step of a method on a fixed random batch: shared by ``bench_train_step.py`` and ``gpu_check.py``.

No pytest here, so that the GPU check runs in an environment without test tools.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from zslbench.training import distributed
from zslbench.config import resolve_run_config
from zslbench.methods import MethodContext

#: Step configurations: the small CPU one, and ViT-B/16 at 224 (CUB-sized heads: 312 attributes, 150 seen classes).
CONFIGS = {
    "small": dict(backbone="vit-synthetic", image_size=64, batch=32, attributes=15, classes=80,
                  defaults_for="synthetic"),
    "vitb": dict(backbone="vit_base_patch16_224", image_size=224, batch=4, attributes=312, classes=150,
                 defaults_for="cub"),
}

#: ViT-B/16 at 224: about 17.6 GMACs per image forward; training ~ 3x forward; 2 FLOPs per MAC.
VITB_FORWARD_FLOPS = 2 * 17.6e9
#: Dense bf16 peak of an H100 SXM (override with ZSLBENCH_PEAK_TFLOPS for another card).
H100_BF16_PEAK_FLOPS = 989e12


def method_spec(name: str):
    """The MethodSpec of an svip or baselines method."""
    from zslbench_baselines.plugin import method_specs as baseline_specs
    from zslbench_svip.plugin import method_specs as svip_specs

    return {s.name: s for s in [*svip_specs(), *baseline_specs()]}[name]


def make_step(name: str, seed: int = 0, config: str = "small", device: str = "cpu", batch: int | None = None,
              amp: bool = False, compile: bool = False, compile_backend: str = "inductor") -> Callable[[], None]:
    """A closure running one train step (forward, backward, AdamW step) of method ``name`` on a fixed batch.

    ``amp`` runs the forward under bf16 autocast; ``compile`` wraps the model call as
    ``train.compile=true`` does in the engine (``compile_backend="eager"``: graph capture without code
    generation, for quick tests). The step never synchronises with the host.
    """
    c = CONFIGS[config]
    batch = batch or c["batch"]
    dev = torch.device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    k = c["attributes"]
    vectors = rng.normal(size=(k, 50)).astype(np.float32)
    thirds = [list(range(0, k // 3)), list(range(k // 3, 2 * k // 3)), list(range(2 * k // 3, k))]
    context = MethodContext(
        dataset_name=c["defaults_for"], attribute_names=[f"attribute {i}" for i in range(k)],
        num_attributes=k, image_size=c["image_size"], attribute_groups=thirds,
        attribute_vectors=lambda: vectors, backbone=c["backbone"], pretrained="none", device=str(dev),
    )
    spec = method_spec(name)
    defaults = spec.dataset_defaults(c["defaults_for"])
    _, options = resolve_run_config([{"method": name}, {"method": defaults["method"]}], spec.options_type)
    model = spec.build(context, options).to(dev).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=dev.type == "cuda")
    losses = distributed.wrap_model(model, dev)  # the engine's model call
    if compile:
        losses = torch.compile(losses, backend=compile_backend)
    images = torch.randn(batch, 3, c["image_size"], c["image_size"], device=dev)
    targets = torch.randint(0, c["classes"], (batch,), device=dev)
    class_attributes = torch.rand(c["classes"], k, device=dev)
    use_amp = amp and dev.type == "cuda"

    def step() -> None:
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = losses(images, targets, class_attributes)["loss"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step
