"""``zslbench ablate``: variants found through the registry, runs reused or trained, Table-2 layout."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from zslbench import registry
from zslbench.results.ablate import ablation_roles, config_matches, parse_seeds
from zslbench.cli import main
from zslbench.errors import UsageError
from zslbench.methods import MethodSpec
from zslbench.registry import Entry, Origin


@pytest.fixture
def family(example_plugin, monkeypatch):
    """'full-m' (baseline 'base-m') with variants 'full-m-no-b' and 'full-m-no-a', all the example pixel-attr model."""
    pixel = registry.methods.get("pixel-attr")

    def add(name: str, **kw) -> None:
        spec = MethodSpec(name=name, build=pixel.build, options_type=pixel.options_type, **kw)
        monkeypatch.setitem(registry.methods._entries, name, Entry(name, spec, Origin("test")))

    add("full-m", ablation_baseline="base-m",
        reference_results={"example-bars": {"T1": 70.0, "U": 60.0, "S": 80.0, "H": 68.6, "source": "Paper, Table 2"}})
    add("base-m")
    add("full-m-no-b", variant_of="full-m")
    add("full-m-no-a", variant_of="full-m")
    add("unrelated")
    return "full-m"


def ablate(*args: str):
    return CliRunner().invoke(main, ["ablate", *args], catch_exceptions=False)


def stored_runs(root) -> list:
    return sorted(p for p in root.glob("example-bars/*/*") if p.is_dir())


def test_roles_come_from_the_registry(family):
    assert ablation_roles("full-m") == [("baseline (base-m)", "base-m"), ("full-m-no-a", "full-m-no-a"),
                                        ("full-m-no-b", "full-m-no-b"), ("full (full-m)", "full-m")]
    with pytest.raises(UsageError, match="no registered variants"):
        ablation_roles("unrelated")


def test_ablate_runs_every_row_and_seed_then_reuses_them(tmp_path, family):
    root = tmp_path / "runs"
    args = ("full-m", "--dataset", "example-bars", "--seeds", "0,1", "--runs", str(root),
            "--set", "train.epochs=1", "--format", "json")
    first = ablate(*args)
    assert first.exit_code == 0, first.output
    assert "running 8" in first.stderr
    table = json.loads(first.stdout)["tables"][0]
    ours = [r for r in table["rows"] if r["kind"] == "ours"]
    assert [r["method"] for r in ours] == ["base-m", "full-m-no-a", "full-m-no-b", "full-m"]
    assert all(r["n"] == 2 and r["seeds"] == [0, 1] for r in ours)
    assert [c["id"] for c in table["columns"]] == [f"example-bars:{k}" for k in ("t1", "u", "s", "h")]
    paper = [r for r in table["rows"] if r["kind"] == "paper"]
    assert len(paper) == 1 and paper[0]["method"] == "full-m"
    assert paper[0]["cells"]["example-bars:h"]["value"] == pytest.approx(68.6)
    assert table["rows"].index(paper[0]) == table["rows"].index(ours[-1]) + 1  # the paper row sits beside ours
    assert len(stored_runs(root)) == 8

    again = ablate(*args)
    assert again.exit_code == 0 and "running" not in again.stderr
    assert len(stored_runs(root)) == 8
    assert json.loads(again.stdout)["tables"][0]["rows"][0]["run_ids"] == ours[0]["run_ids"]

    changed = ablate("full-m", "--dataset", "example-bars", "--seeds", "0", "--runs", str(root),
                     "--set", "train.epochs=2", "--format", "json")
    assert changed.exit_code == 0 and "running 4" in changed.stderr  # another config: new runs
    assert len(stored_runs(root)) == 12


def test_no_run_reads_the_store_only(tmp_path, family):
    root = tmp_path / "runs"
    empty = ablate("full-m", "--dataset", "example-bars", "--runs", str(root), "--no-run")
    assert empty.exit_code == 1 and "zslbench run base-m --dataset example-bars --seed 0" in empty.stderr
    CliRunner().invoke(main, ["run", "full-m", "--dataset", "example-bars", "--epochs", "1", "--out", str(root), "-q"],
                       catch_exceptions=False)
    partial = ablate("full-m", "--dataset", "example-bars", "--runs", str(root), "--no-run", "--format", "markdown")
    assert partial.exit_code == 0, partial.output
    assert "| **full (full-m)** | 1 |" in partial.stdout
    assert "missing: full-m-no-a on example-bars, seed 0" in partial.stdout
    assert len(stored_runs(root)) == 1


def test_bad_arguments(tmp_path, family):
    assert parse_seeds("2, 0,2") == [2, 0]
    with pytest.raises(UsageError):
        parse_seeds("0,x")
    result = ablate("unrelated", "--dataset", "example-bars", "--runs", str(tmp_path))
    assert result.exit_code == 2 and "no registered variants" in result.stderr
    result = ablate("nope-method", "--dataset", "example-bars", "--runs", str(tmp_path))
    assert result.exit_code == 2 and "unknown method" in result.stderr
    result = ablate("full-m", "--dataset", "example-bars", "--no-run", "--set", "train.epochs=1")
    assert result.exit_code == 2


def test_config_matching_ignores_store_root_and_tags():
    stored = {"method": "m", "seed": 0, "out": "/a", "tags": ["x"], "train": {"epochs": 1}}
    assert config_matches(stored, {**stored, "out": "/b", "tags": []})
    assert not config_matches(stored, {**stored, "train": {"epochs": 2}})


def test_no_run_never_averages_runs_of_other_settings_into_one_row(tmp_path, family):
    root = tmp_path / "runs"
    for seed, epochs in ((0, 1), (1, 2)):  # seed 1 stored later, with other settings
        CliRunner().invoke(main, ["run", "full-m", "--dataset", "example-bars", "--epochs", str(epochs), "--seed",
                                  str(seed), "--out", str(root), "-q"], catch_exceptions=False)
    result = ablate("full-m", "--dataset", "example-bars", "--seeds", "0,1", "--runs", str(root), "--no-run",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)["tables"][0]
    full = [r for r in table["rows"] if r["kind"] == "ours" and r["method"] == "full-m"]
    assert len(full) == 1 and full[0]["n"] == 1 and full[0]["seeds"] == [1]  # the latest run's group only
    assert any(note.startswith("not averaged in: full-m on example-bars, seed 0") for note in table["notes"])


def test_ablate_in_python_returns_the_table_the_command_prints(tmp_path, family):
    import zslbench
    from test_compare import single_label_test, write_run

    for method, h in (("full-m", 0.6), ("base-m", 0.4)):
        write_run(tmp_path, method, "example-bars", 0, single_label_test(0.5, 0.5, 0.5, h), "20260101-000000")
    ablation = zslbench.ablate("full-m", ["example-bars"], root=tmp_path, run=False)
    command = ablate("full-m", "--dataset", "example-bars", "--runs", str(tmp_path), "--no-run", "--format", "json")
    assert ablation.render("json") == command.stdout
    measured = {r.method: r.n for r in ablation.table.rows if r.kind == "ours" and r.n}
    assert measured == {"full-m": 1, "base-m": 1} and len(ablation.runs) == 2 and ablation.plan.jobs == []
    assert any(note.startswith("missing: full-m-no-a on example-bars, seed 0") for note in ablation.table.notes)
    with pytest.raises(UsageError, match="--no-run starts none"):
        zslbench.ablate("full-m", ["example-bars"], root=tmp_path, run=False, set_items=["train.epochs=1"])
