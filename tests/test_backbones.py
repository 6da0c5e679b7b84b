"""Tests of zslbench.models.backbones: the ViT adapter, attention aggregation, grouping, weights."""

from __future__ import annotations

import pytest
import torch

from zslbench.models import backbones
from zslbench.models.backbones import (
    AttentionAggregator,
    ViTAdapter,
    backbone_specs,
    create_backbone,
    group_index,
    group_patches,
    ungroup_patches,
)
from zslbench.errors import DataError, UnknownNameError, UsageError


@pytest.fixture()
def tiny() -> ViTAdapter:
    torch.manual_seed(0)
    return create_backbone("vit-synthetic-tiny", pretrained="none").eval()


def _random_attention(layers: int, batch: int = 2, heads: int = 3, n: int = 7, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, n, n, generator=g, dtype=torch.float64).mul(2).softmax(-1) for _ in range(layers)]


def _eq4_brute_force(maps: list[torch.Tensor]) -> torch.Tensor:
    """Full-matrix Eq. 4 in float64: W^1 = T^1, W^l = W^{l-1} + W^{l-1} T^l; row 0, normalised."""
    t = [m.double().sum(1) for m in maps]
    w = t[0]
    for t_l in t[1:]:
        w = w + w @ t_l
    row = w[:, 0, :]
    return row / row.sum(-1, keepdim=True)


def _rollout_brute_force(maps: list[torch.Tensor]) -> torch.Tensor:
    """Abnar & Zuidema: R = A^L ... A^1 with A = rownorm(mean_heads + I); row 0."""
    n = maps[0].shape[-1]
    r = torch.eye(n, dtype=torch.float64)
    for m in maps:
        a = m.double().mean(1) + torch.eye(n, dtype=torch.float64)
        a = a / a.sum(-1, keepdim=True)
        r = a @ r
    row = r[:, 0, :]
    return row / row.sum(-1, keepdim=True)


# ----------------------------------------------------------------------------- aggregation


@pytest.mark.parametrize("layers", [1, 2, 5])
def test_eq4_row_equals_row_of_full_matrix_product(layers):
    maps = _random_attention(layers)
    aggregator = AttentionAggregator("eq4")
    for m in maps:
        aggregator.update(m)
    assert aggregator.cls_row.dtype == torch.float64  # float64 in, float64 out: the formula is compared, not rounding
    torch.testing.assert_close(aggregator.cls_row, _eq4_brute_force(maps), rtol=1e-12, atol=1e-12)


def test_eq4_differs_from_rollout():
    maps = _random_attention(3)
    eq4, rollout = AttentionAggregator("eq4"), AttentionAggregator("rollout")
    for m in maps:
        eq4.update(m)
        rollout.update(m)
    assert not torch.allclose(eq4.cls_row, rollout.cls_row, atol=1e-4)


def test_rollout_equals_brute_force():
    maps = _random_attention(4)
    aggregator = AttentionAggregator("rollout")
    for m in maps:
        aggregator.update(m)
    torch.testing.assert_close(aggregator.cls_row, _rollout_brute_force(maps), rtol=1e-12, atol=1e-12)


def test_unknown_aggregation_is_a_usage_error():
    with pytest.raises(UsageError):
        AttentionAggregator("sum")


def _timm_attention_maps(adapter: ViTAdapter, images: torch.Tensor) -> list[torch.Tensor]:
    """Every block's full attention probabilities, from timm's own non-fused attention path."""
    maps: list[torch.Tensor] = []
    hooks = []
    for block in adapter.vit.blocks:
        block.attn.fused_attn = False
        hooks.append(block.attn.attn_drop.register_forward_hook(lambda mod, inp, out: maps.append(inp[0].detach())))
    try:
        adapter.vit.forward_features(images)
    finally:
        for hook in hooks:
            hook.remove()
        for block in adapter.vit.blocks:
            block.attn.fused_attn = True
    return maps


@pytest.mark.parametrize("aggregation, brute_force", [("eq4", _eq4_brute_force), ("rollout", _rollout_brute_force)])
def test_aggregation_on_a_real_vit_equals_brute_force_on_full_attention_maps(tiny, aggregation, brute_force):
    tiny = tiny.double()  # the whole computation in float64: timm's maps and ours agree to rounding of 1e-16
    images = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    maps = _timm_attention_maps(tiny, images)
    assert len(maps) == len(tiny.vit.blocks) and maps[0].shape == (3, 3, 17, 17)
    with torch.no_grad():
        out = tiny.forward_tokens(tiny.patch_embed(images), need_cls_attention=True, aggregation=aggregation)
    expected = brute_force(maps)[:, 1:]  # the patches' part of the class-token row
    torch.testing.assert_close(out.cls_attention, expected, rtol=1e-12, atol=1e-12)


def test_attention_batch_restricts_the_aggregation_to_leading_images(tiny):
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        full = tiny.forward_tokens(tiny.patch_embed(images), need_cls_attention=True)
        part = tiny.forward_tokens(tiny.patch_embed(images), need_cls_attention=True, attention_batch=2)
    assert part.cls_attention.shape == (2, 16)
    torch.testing.assert_close(part.cls_attention, full.cls_attention[:2])
    torch.testing.assert_close(part.cls, full.cls)


def test_attention_row_has_no_gradient_while_tokens_keep_theirs(tiny):
    tiny.train()
    out = tiny.forward_tokens(tiny.patch_embed(torch.randn(2, 3, 32, 32)), need_cls_attention=True)
    assert out.cls.requires_grad and out.patches.requires_grad
    assert not out.cls_attention.requires_grad
    out.cls.sum().backward()
    assert tiny.vit.blocks[0].attn.qkv.weight.grad is not None


# ----------------------------------------------------------------------------- forward


def test_forward_tokens_equals_timm_forward_features(tiny):
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = tiny.vit.forward_features(images)
        plain = tiny.forward_tokens(tiny.patch_embed(images))
        with_attention = tiny.forward_tokens(tiny.patch_embed(images), need_cls_attention=True)
        cls, patches = tiny.encode(images)
    torch.testing.assert_close(plain.cls, reference[:, 0])
    torch.testing.assert_close(plain.patches, reference[:, 1:])
    torch.testing.assert_close(with_attention.cls, reference[:, 0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(with_attention.patches, reference[:, 1:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cls, reference[:, 0])
    assert patches.shape == (2, 16, 48)


def test_forward_tokens_equals_timm_for_a_vit_b_shaped_model():
    torch.manual_seed(0)
    adapter = create_backbone("vit_tiny_patch16_224", pretrained="none").eval()
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        reference = adapter.vit.forward_features(images)
        out = adapter.forward_tokens(adapter.patch_embed(images))
    assert adapter.grid == (14, 14) and out.patches.shape == (1, 196, 192)
    torch.testing.assert_close(out.cls, reference[:, 0])


def test_patch_embed_is_before_position_embeddings(tiny):
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        v = tiny.patch_embed(images)
        direct = tiny.vit.patch_embed.proj(images).flatten(2).transpose(1, 2)
    torch.testing.assert_close(v, direct)


def test_keep_index_runs_kept_patches_with_their_own_position_embeddings(tiny):
    images = torch.randn(2, 3, 32, 32)
    keep = torch.tensor([[0, 5, 6, 15], [3, 4, 9, 10]])
    with torch.no_grad():
        v = tiny.patch_embed(images)
        out = tiny.forward_tokens(v, keep_index=keep)
        # by hand: gather v + pos for the kept patches, prepend the class token, run the blocks
        vit = tiny.vit
        x = v + vit.pos_embed[:, 1:]
        x = x.gather(1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = torch.cat([(vit.cls_token + vit.pos_embed[:, :1]).expand(2, -1, -1), x], dim=1)
        x = vit.norm(vit.blocks(x))
    assert out.patches.shape == (2, 4, 48)
    torch.testing.assert_close(out.cls, x[:, 0])
    torch.testing.assert_close(out.patches, x[:, 1:])


def test_keep_index_of_every_patch_equals_the_full_sequence(tiny):
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        v = tiny.patch_embed(images)
        full = tiny.forward_tokens(v)
        same = tiny.forward_tokens(v, keep_index=torch.arange(16).expand(2, -1))
    torch.testing.assert_close(same.patches, full.patches, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- grouping


def test_grouping_196_to_49_shape_and_order():
    tokens = torch.randn(2, 196, 768)
    grouped = group_patches(tokens, (14, 14), 2)
    assert grouped.shape == (2, 49, 3072)
    ids = torch.arange(196, dtype=torch.float32).reshape(1, 196, 1)
    g = group_patches(ids, (14, 14), 2)[0]
    assert g[0].tolist() == [0, 1, 14, 15]
    assert g[1].tolist() == [2, 3, 16, 17]
    assert g[7].tolist() == [28, 29, 42, 43]
    assert g[48].tolist() == [180, 181, 194, 195]
    # the D-dim tokens are concatenated in that order
    torch.testing.assert_close(grouped[:, 1, 768:1536], tokens[:, 3])
    torch.testing.assert_close(ungroup_patches(grouped, (14, 14), 2), tokens)
    assert torch.equal(group_index((14, 14), 2)[7], torch.tensor([28, 29, 42, 43]))


def test_grouping_generalises_and_rejects_grids_it_does_not_divide():
    tokens = torch.randn(1, 24, 5)
    assert group_patches(tokens, (4, 6), 2).shape == (1, 6, 20)
    assert group_patches(tokens, (4, 6), 1).shape == (1, 24, 5)
    with pytest.raises(UsageError):
        group_patches(torch.randn(1, 9, 5), (3, 3), 2)


def test_adapter_grouping_uses_its_grid(tiny):
    assert tiny.grid == (4, 4) and tiny.dim == 48
    assert tiny.group_patches(torch.randn(1, 16, 48)).shape == (1, 4, 192)


# ----------------------------------------------------------------------------- weights


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_checkpoint_files_load_exactly(tmp_path, suffix):
    torch.manual_seed(1)
    source = create_backbone("vit-synthetic-tiny", pretrained="none")
    state = {k: v.contiguous() for k, v in source.vit.state_dict().items()}
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"model": state}, path)  # wrapped, as training scripts save it
    torch.manual_seed(2)
    loaded = create_backbone("vit-synthetic-tiny", pretrained=str(path))
    for key, value in source.vit.state_dict().items():
        assert torch.equal(loaded.vit.state_dict()[key], value), key
    assert loaded.pretrained == str(path)


def test_checkpoint_with_other_shapes_is_a_data_error(tmp_path):
    from timm.models.vision_transformer import VisionTransformer

    other = VisionTransformer(img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=3, num_classes=0)
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(DataError, match="shape mismatch"):
        create_backbone("vit-synthetic-tiny", pretrained=str(path))


def test_missing_or_foreign_checkpoints_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        create_backbone("vit-synthetic-tiny", pretrained=str(tmp_path / "nope.pth"))
    npz = tmp_path / "weights.npz"
    npz.write_bytes(b"x")
    with pytest.raises(DataError, match="unsupported"):
        create_backbone("vit-synthetic-tiny", pretrained=str(npz))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot read"):
        create_backbone("vit-synthetic-tiny", pretrained=str(broken))


def _empty_caches(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "hf"


def test_timm_weights_missing_from_the_cache_is_a_data_error_not_random_weights(tmp_path, monkeypatch):
    _empty_caches(tmp_path, monkeypatch)
    with pytest.raises(DataError) as info:
        create_backbone("vit_tiny_patch16_224")  # default for timm models: "timm" weights
    assert "--pretrained" in info.value.hint


def test_timm_weights_are_read_from_the_local_hugging_face_cache(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file
    from timm.models import get_pretrained_cfg

    hf_cache = _empty_caches(tmp_path, monkeypatch)
    torch.manual_seed(3)
    published = timm.create_model("vit_tiny_patch16_224", pretrained=False)  # with its 1000-class head
    repo = get_pretrained_cfg("vit_tiny_patch16_224").hf_hub_id
    snapshot = hf_cache / ("models--" + repo.replace("/", "--")) / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    save_file({k: v.contiguous() for k, v in published.state_dict().items()}, str(snapshot / "model.safetensors"))
    adapter = create_backbone("vit_tiny_patch16_224", pretrained="timm")
    assert adapter.pretrained == "timm"
    assert torch.equal(adapter.vit.pos_embed, published.pos_embed)
    assert torch.equal(adapter.vit.blocks[0].attn.qkv.weight, published.blocks[0].attn.qkv.weight)


def test_synthetic_configs_have_no_timm_weights():
    with pytest.raises(UsageError):
        create_backbone("vit-synthetic-tiny", pretrained="timm")


# ----------------------------------------------------------------------------- names and specs


def test_names_resolve_or_fail_with_suggestions():
    assert backbones.resolve_timm_name("vit-synthetic") is None
    assert backbones.resolve_timm_name("timm:vit_small_patch16_224") == "vit_small_patch16_224"
    assert backbones.resolve_timm_name("vit_base_patch32_224") == "vit_base_patch32_224"  # any timm ViT
    with pytest.raises(UnknownNameError) as info:
        create_backbone("vit-synthetc")
    assert "vit-synthetic" in info.value.hint
    with pytest.raises(UsageError):
        create_backbone("timm:not_a_model_at_all")
    with pytest.raises(UsageError, match="VisionTransformer"):
        create_backbone("timm:resnet18", pretrained="none")
    with pytest.raises(UsageError, match="VisionTransformer"):
        create_backbone("deit_tiny_distilled_patch16_224", pretrained="none")  # two prefix tokens


def test_image_size_override_changes_the_grid():
    adapter = create_backbone("vit-synthetic-tiny", pretrained="none", image_size=48)
    assert adapter.grid == (6, 6) and adapter.image_size == 48
    with pytest.raises(UsageError):
        create_backbone("vit-synthetic-tiny", pretrained="none", image_size=30)


def test_backbone_specs_cover_synthetic_and_timm_vits():
    specs = {s.name: s for s in backbone_specs()}
    assert {"vit-synthetic", "vit-synthetic-tiny", "vit_base_patch16_224", "vit_small_patch16_224",
            "vit_tiny_patch16_224", "deit_small_patch16_224", "vit_large_patch16_224"} <= set(specs)
    assert specs["vit-synthetic"].image_size == 64
    adapter = specs["vit-synthetic"].create("none")
    assert isinstance(adapter, ViTAdapter) and adapter.grid == (8, 8) and adapter.dim == 96
    assert len(adapter.vit.blocks) == 4


def test_bf16_autocast_stays_bf16_on_the_token_path(tiny):
    images = torch.randn(2, 3, 32, 32)
    seen: list[torch.dtype] = []
    hook = tiny.vit.blocks[0].attn.proj.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].dtype))
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = tiny.forward_tokens(tiny.patch_embed(images), need_cls_attention=True)
            reference = tiny.vit.forward_features(images)
    finally:
        hook.remove()
    assert seen == [torch.bfloat16, torch.bfloat16]  # the fused attention output, ours then timm's
    assert out.patches.dtype == reference.dtype  # same output dtype as timm's own forward under autocast
    assert out.cls_attention.dtype == torch.float32  # the no-grad attention row is accumulated in float32
    torch.testing.assert_close(out.cls_attention.sum(-1), torch.ones(2), atol=0.2, rtol=0)


# ----------------------------------------------------------------------------- foundation towers (CLIP, SigLIP, DINOv2)


def test_foundation_backbones_are_registered_with_timm_names_normalisation_and_grid():
    import timm
    from timm.models import get_pretrained_cfg

    from zslbench.models.catalog import PRETRAINED_VITS

    specs = {s.name: s for s in backbone_specs()}
    expected = {"clip-vit-b16-openai", "clip-vit-l14-openai", "clip-vit-b16-laion2b", "clip-vit-l14-laion2b",
                "siglip-vit-b16", "dinov2-vit-b14"}
    assert expected <= set(specs) and expected <= set(PRETRAINED_VITS)
    published = set(timm.list_models(pretrained=True))
    for name in expected:
        vit = PRETRAINED_VITS[name]
        assert vit.timm_name in published, name
        cfg = get_pretrained_cfg(vit.timm_name)
        assert (vit.mean, vit.std) == (tuple(cfg.mean), tuple(cfg.std)), name  # the weights' own normalisation
        assert cfg.hf_hub_id == vit.hf_hub_id, name
        assert specs[name].image_size == vit.image_size == 224
    assert PRETRAINED_VITS["dinov2-vit-b14"].grid == (16, 16)  # 224 px / 14 px patches, not timm's 518 px
    assert PRETRAINED_VITS["clip-vit-l14-openai"].grid == (16, 16)
    assert PRETRAINED_VITS["clip-vit-b16-openai"].grid == (14, 14)
    assert backbones.expected_mean_std("clip-vit-b16-openai") == (PRETRAINED_VITS["clip-vit-b16-openai"].mean,
                                                                 PRETRAINED_VITS["clip-vit-b16-openai"].std)


@pytest.mark.parametrize("name, grid", [("clip-vit-b16-openai", (14, 14)), ("siglip-vit-b16", (14, 14)),
                                        ("dinov2-vit-b14", (16, 16))])
def test_tiny_foundation_towers_load_from_the_offline_hugging_face_cache(tmp_path, monkeypatch, name, grid):
    from fixtures_clip import cache_timm_tower, offline_hf_cache, tiny_towers

    hub = offline_hf_cache(tmp_path, monkeypatch)
    tiny_towers(monkeypatch)
    with pytest.raises(DataError):  # nothing cached yet: an error, never random weights
        create_backbone(name)
    cache_timm_tower(hub, name, seed=5)
    torch.manual_seed(5)
    expected = create_backbone(name, "none").eval()
    torch.manual_seed(99)  # loading must not depend on the RNG
    loaded = create_backbone(name).eval()
    assert loaded.grid == grid and loaded.image_size == 224
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(loaded.encode(images)[0], expected.encode(images)[0])


def test_missing_foundation_weights_name_the_model_the_cache_and_the_fetch_command(tmp_path, monkeypatch):
    from fixtures_clip import offline_hf_cache, tiny_towers

    hub = offline_hf_cache(tmp_path, monkeypatch)
    tiny_towers(monkeypatch)
    with pytest.raises(DataError) as info:
        create_backbone("dinov2-vit-b14")
    message = str(info.value)
    assert "vit_base_patch14_dinov2.lvd142m" in message and str(hub) in message and "\n" not in message
    assert "huggingface-cli download timm/vit_base_patch14_dinov2.lvd142m" in info.value.hint
    assert "--pretrained none" in info.value.hint


@pytest.mark.parametrize("suffix", [".safetensors", ".bin"])
def test_an_open_clip_checkpoint_loads_into_the_clip_image_tower(tmp_path, monkeypatch, suffix):
    """--pretrained PATH to an open_clip file: timm's converter maps visual.* onto the ViT (text tower dropped);
    the class token through ``proj`` equals open_clip's image embedding, in float64."""
    pytest.importorskip("open_clip")  # the optional extra zslbench[clip] (in the test extra)
    from fixtures_clip import save_open_clip, tiny_open_clip, tiny_towers

    tiny_towers(monkeypatch)
    model = tiny_open_clip(seed=2)
    path = save_open_clip(model, tmp_path / "ckpt", weights_name=f"open_clip_model{suffix}")
    adapter = create_backbone("clip-vit-b16-openai", str(path)).double().eval()
    model = model.double()
    images = torch.randn(2, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        ours = adapter.encode(images)[0] @ model.visual.proj
        theirs = model.encode_image(images)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_a_pooled_tower_without_class_token_refuses_attention_selection(monkeypatch):
    from fixtures_clip import tiny_towers

    tiny_towers(monkeypatch)
    adapter = create_backbone("siglip-vit-b16", "none").double().eval()
    assert not adapter.has_class_token
    images = torch.randn(1, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        pooled, patches = adapter.encode(images)
        assert pooled.shape == (1, adapter.dim) and patches.shape == (1, 196, adapter.dim)
        timm_pooled = adapter.vit.forward_head(adapter.vit.forward_features(images), pre_logits=True)
        torch.testing.assert_close(pooled, timm_pooled, rtol=1e-12, atol=1e-12)
        with pytest.raises(UsageError, match="no class token"):
            adapter.forward_tokens(adapter.patch_embed(images), need_cls_attention=True)


@pytest.mark.parametrize("name", ["dinov2-vit-b14", "siglip-vit-b16"])
def test_a_local_safetensors_file_loads_into_a_foundation_tower(tmp_path, monkeypatch, name):
    from safetensors.torch import save_file

    from fixtures_clip import tiny_towers

    tiny_towers(monkeypatch)
    torch.manual_seed(7)
    source = create_backbone(name, "none").double().eval()
    path = tmp_path / "tower.safetensors"
    save_file({k: v.contiguous() for k, v in source.vit.state_dict().items()}, str(path))
    loaded = create_backbone(name, str(path)).double().eval()
    images = torch.randn(2, 3, 224, 224, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(loaded.encode(images)[0], source.encode(images)[0])


def test_dinov2_weights_of_another_grid_are_resampled_to_224_px(tmp_path, monkeypatch):
    """DINOv2 is published at 518 px (37x37 patches); at 224 px the position embeddings are resampled to 16x16."""
    from safetensors.torch import save_file

    from fixtures_clip import tiny_towers

    tiny_towers(monkeypatch)
    big = create_backbone("dinov2-vit-b14", "none", image_size=518)
    assert big.grid == (37, 37)
    path = tmp_path / "dinov2-518.safetensors"
    save_file({k: v.contiguous() for k, v in big.vit.state_dict().items()}, str(path))
    small = create_backbone("dinov2-vit-b14", str(path))
    assert small.grid == (16, 16) and small.vit.pos_embed.shape[1] == 1 + 16 * 16
    assert torch.equal(small.vit.cls_token, big.vit.cls_token)
    assert torch.equal(small.vit.blocks[0].attn.qkv.weight, big.vit.blocks[0].attn.qkv.weight)
    with pytest.raises(UsageError, match="multiple of"):
        create_backbone("dinov2-vit-b14", "none", image_size=225)
