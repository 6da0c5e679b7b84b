"""The Python API (zslbench.run / evaluate / load_dataset / list_* / load_runs) and the README's example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zslbench
from zslbench import store
from zslbench.errors import UsageError
from zslbench.evaluation import evaluate as evaluate_single_label
from zslbench.evaluation.multi_label import evaluate_multilabel

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_example() -> str:
    """The first ```python block of the README's "Python API" section."""
    text = README.read_text()
    section = text[text.index("## Python API"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Python API section has no python example"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZSLBENCH_RUNS", str(tmp_path / "runs"))
    exec(compile(readme_python_example(), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    (run_dir,) = list((tmp_path / "runs" / "synthetic-tiny" / "svip").iterdir())
    assert str(run_dir) in printed
    assert run_dir.name in printed  # load_runs found it


@pytest.mark.slow
def test_run_returns_what_the_store_holds(tmp_path):
    run = zslbench.run("svip", dataset="synthetic-tiny", epochs=1, out=str(tmp_path), tags=["api"])
    assert run.dir.parent == tmp_path / "synthetic-tiny" / "svip"
    assert run.metrics == json.loads((run.dir / store.METRICS_FILE).read_text())
    stored_config = json.loads((run.dir / store.CONFIG_FILE).read_text())
    assert stored_config == run.config.to_dict()
    assert stored_config["train"]["epochs"] == 1 and stored_config["tags"] == ["api"]
    assert run.test["h"] == run.metrics["test"]["h"]
    (record,) = zslbench.load_runs(tmp_path)
    assert record.path == run.dir and record.metrics == run.metrics


def test_run_rejects_an_unknown_option():
    with pytest.raises(UsageError, match="unknown run option"):
        zslbench.run("svip", dataset="synthetic-tiny", epoch=1)


def test_evaluate_matches_the_single_label_protocol():
    # 6 images, 4 classes; classes 0 and 1 seen, 2 and 3 unseen.
    scores = np.array([[0.9, 0.1, 0.3, 0.0], [0.2, 0.8, 0.9, 0.1], [0.1, 0.2, 0.7, 0.4],
                       [0.5, 0.1, 0.2, 0.6], [0.6, 0.0, 0.1, 0.3], [0.1, 0.9, 0.0, 0.2]])
    labels = np.array([0, 1, 2, 3, 3, 1])
    seen = [0, 1]
    is_seen = np.isin(labels, seen)
    expected = evaluate_single_label(scores[is_seen], labels[is_seen], scores[~is_seen], labels[~is_seen], seen, [2, 3],
                                     gamma=0.1).to_dict()
    metrics = zslbench.evaluate(scores, labels, seen, gamma=0.1)
    assert metrics == expected
    # hand-checked: image 1 (class 1) scores class 2 higher, so S = mean(1.0, 0.5); U: class 2 right, class 3 half
    assert metrics["s"] == pytest.approx(0.75) and metrics["u"] == pytest.approx(0.75)


def test_evaluate_matches_the_multi_label_protocol():
    rng = np.random.default_rng(0)
    scores = rng.random((20, 5))
    labels = np.where(rng.random((20, 5)) < 0.3, 1, -1)
    labels[0] = 1  # every label has a positive
    expected = evaluate_multilabel(scores, labels, [0, 1], [2, 3, 4], top_k=(1, 2)).to_dict()
    assert zslbench.evaluate(scores, labels, [0, 1], top_k=(1, 2)) == expected


def test_load_runs_filters_by_method_and_dataset(tmp_path):
    def write(method: str, dataset: str, run_id: str, state: str = "complete") -> Path:
        run = tmp_path / dataset / method / run_id
        run.mkdir(parents=True)
        store.atomic_write_json(run / store.CONFIG_FILE, {"method": method, "dataset": dataset, "seed": 0})
        store.write_status(run, state)
        store.atomic_write_json(run / store.METRICS_FILE, {"test": {"t1": 0.5}})
        return run

    a = write("alpha", "toy", "20260101-000000-s0-aaaaaa")
    b = write("beta", "toy", "20260101-000001-s0-bbbbbb")
    c = write("alpha", "other", "20260101-000002-s0-cccccc")
    running = write("alpha", "toy", "20260101-000003-s0-dddddd", state="running")
    assert [r.path for r in zslbench.load_runs(tmp_path)] == [a, b, c]
    assert [r.path for r in zslbench.load_runs(tmp_path, method="alpha")] == [a, c]
    assert [r.path for r in zslbench.load_runs(tmp_path, dataset="toy")] == [a, b]
    assert [r.path for r in zslbench.load_runs(tmp_path, method="alpha", dataset="toy", complete=False)] == [a, running]


def test_list_functions_name_the_built_ins():
    methods, datasets = zslbench.list_methods(), zslbench.list_datasets()
    assert {"svip", "baseline", "eszsl", "ale", "epsilon"} <= set(methods)
    assert {"synthetic", "synthetic-tiny", "cub", "awa2", "sun", "nus-wide", "synthetic-multilabel"} <= set(datasets)


def test_registered_describes_what_zslbench_list_shows():
    methods = {entry.name: entry for entry in zslbench.registered("methods")}
    assert [entry.name for entry in zslbench.registered("methods")] == zslbench.list_methods()
    assert methods["svip-no-jsd"].variant_of == "svip"
    assert methods["eszsl"].method_kind == "feature" and methods["svip"].method_kind == "image"
    assert "multi-label" in methods["epsilon"].tasks and "single-label" in methods["svip"].tasks
    assert methods["svip"].origin.startswith("zslbench-svip")
    datasets = {entry.name: entry for entry in zslbench.registered("datasets")}
    assert datasets["nus-wide"].tasks == ("multi-label",) and datasets["cub"].tasks == ("single-label",)
    assert datasets["cub"].semantic


def test_registered_names_the_kinds_on_an_unknown_one():
    with pytest.raises(UsageError, match="unknown registry kind 'model'"):
        zslbench.registered("model")


def test_load_dataset_returns_a_validated_dataset():
    dataset = zslbench.load_dataset("synthetic-tiny")
    assert dataset.name == "synthetic-tiny"
    assert set(dataset.splits) >= {"trainval", "test_seen", "test_unseen"}
    assert not set(dataset.seen_classes) & set(dataset.unseen_classes)


def test_importing_zslbench_does_not_import_torch():
    code = "import sys, zslbench; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ----------------------------------------------------------------------------- names or objects


def test_get_method_and_get_dataset_return_the_registered_specs():
    from zslbench.errors import UnknownNameError

    assert zslbench.get_method("svip").name == "svip" and zslbench.get_method("svip").kind == "image"
    assert zslbench.get_dataset("synthetic-tiny").task == "single-label"
    with pytest.raises(UnknownNameError, match="did you mean 'svip'"):
        zslbench.get_method("svipp")


def test_list_methods_filters_by_task_and_kind():
    multi_label = zslbench.list_methods(task="multi-label")
    assert "epsilon" in multi_label and "svip" not in multi_label
    features = zslbench.list_methods(kind="feature")
    assert "eszsl" in features and "baseline" not in features
    assert set(zslbench.list_datasets(task="multi-label")) < set(zslbench.list_datasets())


def test_run_takes_a_dataset_in_memory_and_a_method_spec_object(tmp_path, forget_in_process):
    import dataclasses

    dataset = dataclasses.replace(zslbench.load_dataset("synthetic-tiny"), name="my-tiny")
    method = dataclasses.replace(zslbench.get_method("baseline"), name="my-baseline", aliases=())
    # backbone given: defaults are still keyed by dataset name (issue #28 moves them onto the dataset)
    run = zslbench.run(method, dataset, epochs=1, out=str(tmp_path), backbone="vit-synthetic-tiny", pretrained="none")
    assert run.config.method == "my-baseline" and run.config.dataset == "my-tiny"
    assert run.dir.parent.parent.name == "my-tiny" and 0.0 <= run.test["h"] <= 1.0
    counts = run.metrics["counts"]  # the object's own splits were the ones run
    assert [counts[f"images_{name}"] for name in ("trainval", "test_seen", "test_unseen")] == \
        [len(dataset.splits[name]) for name in ("trainval", "test_seen", "test_unseen")]


def test_run_refuses_an_object_named_like_a_registered_dataset(tmp_path, forget_in_process):
    with pytest.raises(UsageError, match="has the name of a registered dataset"):
        zslbench.run("svip", zslbench.load_dataset("synthetic-tiny"), epochs=1, out=str(tmp_path))
    assert not any(tmp_path.rglob("config.json"))


def test_load_results_gives_the_rows_compare_shows_in_fractions_or_percent(tmp_path):
    import json

    from click.testing import CliRunner

    from zslbench.cli import main
    from test_compare import single_label_test, write_run

    for seed in (0, 1):
        write_run(tmp_path, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.5 + 0.1 * seed),
                  f"20260101-00000{seed}")
        write_run(tmp_path, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.2), f"20260101-00010{seed}",
                  protocol="gbu")
    shown = json.loads(CliRunner().invoke(main, ["compare", "alpha", "--runs", str(tmp_path), "--format", "json"],
                                          catch_exceptions=False).stdout)
    table_rows = {r["label"]: r for r in shown["tables"][0]["rows"] if r["kind"] == "ours"}
    percent = {r["label"]: r for r in zslbench.load_results(tmp_path, percent=True)}
    fractions = {r["label"]: r for r in zslbench.load_results(tmp_path)}
    assert set(percent) == set(table_rows) == {"alpha [standard]", "alpha [gbu]"}
    for label, row in table_rows.items():
        assert percent[label]["n"] == row["n"] and percent[label]["run_ids"] == row["run_ids"]
        assert percent[label]["metrics"]["h"]["mean"] == pytest.approx(row["cells"]["h"]["value"])
        assert fractions[label]["metrics"]["h"]["mean"] == pytest.approx(row["cells"]["h"]["value"] / 100)


def test_compare_returns_the_rows_notes_and_warnings_the_command_prints(tmp_path):
    from click.testing import CliRunner

    from zslbench.cli import main
    from test_compare import single_label_test, two_methods, write_run

    two_methods(tmp_path)
    corrupt = write_run(tmp_path, "alpha", "toy", 5, single_label_test(0.9, 0.9, 0.9, 0.9), "20260101-000099")
    (corrupt / "metrics.json").write_text("{truncated")
    comparison = zslbench.compare(["alpha", "beta"], root=tmp_path, metrics=["h", "t1"])
    command = CliRunner().invoke(main, ["compare", "alpha", "beta", "--runs", str(tmp_path), "--metric", "h",
                                        "--metric", "t1", "--format", "json"], catch_exceptions=False)
    assert comparison.render("json") == command.stdout
    assert comparison.warnings == command.stderr.splitlines() and str(corrupt) in comparison.warnings[0]
    assert comparison.rows(percent=True) == zslbench.load_results(tmp_path, ["alpha", "beta"], percent=True)
    rows = {row["method"]: row for row in comparison.rows()}
    assert rows["alpha"]["n"] == 3 and rows["beta"]["metrics"]["h"]["mean"] == pytest.approx(0.61)
    assert [table.dataset for table in comparison.tables] == ["toy"]
    with pytest.raises(UsageError, match="--set only applies"):
        zslbench.compare(["alpha"], root=tmp_path, set_items=["train.lr=1"])


def test_report_writes_the_report_and_returns_its_paths(tmp_path):
    from test_compare import two_methods

    two_methods(tmp_path / "runs")
    outcome = zslbench.report(tmp_path / "out", ["alpha", "beta"], root=tmp_path / "runs")
    assert outcome.path == tmp_path / "out" / "README.md" and outcome.path.is_file()
    assert outcome.pictures and all(p.is_file() and p.parent == tmp_path / "out" for p in outcome.pictures)
    assert len(outcome.runs) == 6 and outcome.skipped == []
    assert all(p.name in outcome.path.read_text() for p in outcome.pictures)
