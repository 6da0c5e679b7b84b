import pytest

from zslbench.config import RunConfig, TrainConfig, build_dataclass, load_toml, parse_set, resolve_run_config
from zslbench.errors import UsageError
from dataclasses import dataclass


@dataclass
class Opts:
    m: int = 10
    temperature: float = 1.0
    mode: str = "a"


def test_parse_set_types_and_nesting():
    out = parse_set(["train.lr=1e-4", "train.epochs=3", "method.mode=b", "tags=[\"x\", \"y\"]", "train.amp=false"])
    assert out == {"train": {"lr": 1e-4, "epochs": 3, "amp": False}, "method": {"mode": "b"}, "tags": ["x", "y"]}


def test_parse_set_requires_equals():
    with pytest.raises(UsageError, match="key=value"):
        parse_set(["train.lr"])


def test_layers_later_wins_and_method_options_typed():
    cfg, opts = resolve_run_config(
        [{"train": {"lr": 0.1, "epochs": 5}, "method": {"m": 3}}, {"train": {"lr": 0.2}}, {"method": "svip"}], Opts)
    assert cfg.train.lr == 0.2 and cfg.train.epochs == 5
    assert cfg.method == "svip" and opts.m == 3 and cfg.method_options["m"] == 3


def test_int_accepted_for_float_but_not_string():
    cfg, _ = resolve_run_config([{"train": {"lr": 1}}], None)
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    with pytest.raises(UsageError, match="train.lr expects a number"):
        resolve_run_config([{"train": {"lr": "fast"}}], None)


def test_unknown_key_suggests_close_name():
    with pytest.raises(UsageError) as info:
        resolve_run_config([{"train": {"epoch": 3}}], None)
    assert "train.epoch" in str(info.value) and "train.epochs" in str(info.value)


def test_unknown_method_option_is_an_error():
    with pytest.raises(UsageError, match="method.mm"):
        resolve_run_config([{"method": {"mm": 3}}], Opts)


def test_optional_field_accepts_none_string():
    cfg, _ = resolve_run_config([{"train": {"grad_clip_norm": "none"}}], None)
    assert cfg.train.grad_clip_norm is None


def test_bad_protocol():
    with pytest.raises(UsageError, match="protocol"):
        resolve_run_config([{"protocol": "test-sweep"}], None)


def test_load_toml_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("train = [unclosed")
    with pytest.raises(UsageError, match="cannot read config file"):
        load_toml(bad)
    good = tmp_path / "good.toml"
    good.write_text('dataset = "synthetic-tiny"\n[train]\nepochs = 2\n')
    assert load_toml(good) == {"dataset": "synthetic-tiny", "train": {"epochs": 2}}


def test_to_dict_round_trip():
    cfg, _ = resolve_run_config([{"seed": 3, "train": {"epochs": 2}, "method": {"name": "x", "m": 1}}], None)
    d = cfg.to_dict()
    again = build_dataclass(RunConfig, d)
    assert again == cfg
