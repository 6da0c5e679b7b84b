"""``zslbench compare`` and the selection/aggregation in zslbench.results.selection, on hand-written run directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from zslbench import registry, results, store
from zslbench.cli import main
from zslbench.methods import MethodSpec
from zslbench.registry import Entry, Origin


def single_label_test(t1: float, u: float, s: float, h: float, ausuc: float = 0.3, cs: tuple | None = None) -> dict:
    """metrics["test"] as ZSLMetrics.to_dict() writes it (fractions)."""
    test = {"t1": t1, "u": u, "s": s, "h": h, "ausuc": ausuc, "oracle_gamma": 0.1, "oracle_u": u + 0.05,
            "oracle_s": s, "oracle_h": h + 0.04, "cs_gamma": None, "cs_u": None, "cs_s": None, "cs_h": None,
            "counts": {"images_test_seen": 10, "images_test_unseen": 10},
            "per_class": {"zsl_unseen": {"7": t1, "8": t1}, "gzsl_unseen": {"7": u, "8": u}, "gzsl_seen": {"1": s}}}
    if cs is not None:
        test.update(cs_gamma=0.2, cs_u=cs[0], cs_s=cs[1], cs_h=cs[2])
    return test


def write_run(root: Path, method: str, dataset: str, seed: int, test: dict | None, stamp: str,
              state: str = "complete", protocol: str = "standard", tags: tuple = (), task: str = "single-label",
              curve: bool = True, data_version: int | None = None, train: dict | None = None,
              options: dict | None = None) -> Path:
    """A run directory written with the store's own functions (``train``: the stored train settings)."""
    run = store.run_dir_for(root, dataset, method, f"{stamp}-s{seed}-{method[:4]}")
    store.atomic_write_json(run / store.CONFIG_FILE, {"method": method, "dataset": dataset, "seed": seed,
                                                      "protocol": protocol, "tags": list(tags),
                                                      "train": train or {"epochs": 3},
                                                      "method_options": options or {}})
    store.write_status(run, state)
    if test is not None:
        metrics = {"protocol": protocol, "task": task, "test": test}
        if data_version is not None:  # generated datasets: the version of the data the run saw
            metrics["data_version"] = data_version
        if curve and task == "single-label":
            metrics["curve"] = {"gammas": [-1.0, 0.0, 1.0], "seen": [test["s"] + 0.1, test["s"], 0.0],
                                "unseen": [0.0, test["u"], test["u"] + 0.1], "intervals": 3}
        store.atomic_write_json(run / store.METRICS_FILE, metrics)
    store.atomic_write_json(run / store.ENV_FILE, {"device": "cpu", "git_commit": "abc123"})
    store.atomic_write_json(run / store.TIMINGS_FILE, {"total_seconds": 1.5})
    return run


def two_methods(root: Path) -> None:
    """alpha: H 52.0 ± 2.0, T1 42.0 ± 2.0; beta: H 61.0 ± 1.0, T1 43.0 ± 2.0 (3 seeds each)."""
    for seed in range(3):
        write_run(root, "alpha", "toy", seed, single_label_test(0.40 + 0.02 * seed, 0.5, 0.5, 0.50 + 0.02 * seed),
                  f"20260101-00000{seed}")
        write_run(root, "beta", "toy", seed, single_label_test(0.41 + 0.02 * seed, 0.6, 0.6, 0.60 + 0.01 * seed),
                  f"20260101-00001{seed}")


def invoke(*args: str) -> "object":
    return CliRunner().invoke(main, ["compare", *args], catch_exceptions=False)


def table_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows_by(table: dict) -> dict:
    return {(r["method"], r["kind"]): r for r in table["rows"]}


def test_means_stds_and_differences_to_the_first_method(tmp_path):
    two_methods(tmp_path)
    out = table_json(invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "json"))
    (table,) = out["tables"]
    assert [c["metric"] for c in table["columns"]] == ["t1", "u", "s", "h", "ausuc"]
    rows = rows_by(table)
    alpha, beta, delta = rows[("alpha", "ours")], rows[("beta", "ours")], rows[("beta", "delta")]
    assert alpha["n"] == 3 and alpha["seeds"] == [0, 1, 2]
    assert alpha["cells"]["h"]["value"] == pytest.approx(52.0) and alpha["cells"]["h"]["std"] == pytest.approx(2.0)
    assert beta["cells"]["h"]["value"] == pytest.approx(61.0) and beta["cells"]["h"]["std"] == pytest.approx(1.0)
    assert delta["cells"]["h"]["value"] == pytest.approx(9.0) and delta["cells"]["h"]["within_noise"] is False
    assert delta["cells"]["t1"]["value"] == pytest.approx(1.0) and delta["cells"]["t1"]["within_noise"] is True
    assert ("alpha", "delta") not in rows  # no difference of the reference method to itself


def test_table_marks_noise_and_labels_oracle(tmp_path):
    two_methods(tmp_path)
    result = invoke("alpha", "beta", "--runs", str(tmp_path), "--oracle")
    assert result.exit_code == 0, result.output
    assert "52.0 ± 2.0" in result.stdout and "+9.0" in result.stdout
    assert f"+1.0 {results.NOISE_MARK}" in result.stdout
    assert "oracle H" in result.stdout and "tuned on the test set" in result.stdout
    plain = invoke("alpha", "beta", "--runs", str(tmp_path))
    assert "oracle" not in plain.stdout


def test_calibrated_columns_only_where_the_validated_protocol_ran(tmp_path):
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000000")
    out = table_json(invoke("alpha", "--runs", str(tmp_path), "--format", "json"))
    assert "cs_h" not in [c["metric"] for c in out["tables"][0]["columns"]]
    write_run(tmp_path, "alpha", "toy", 1, single_label_test(0.4, 0.5, 0.5, 0.5, cs=(0.6, 0.4, 0.48)),
              "20260101-000001", protocol="gbu")
    out = table_json(invoke("alpha", "--runs", str(tmp_path), "--format", "json"))
    # runs of the two protocols are never averaged into one row
    ours = {r["label"]: r for r in out["tables"][0]["rows"] if r["kind"] == "ours"}
    assert set(ours) == {"alpha [gbu]", "alpha [standard]"}
    assert ours["alpha [gbu]"]["cells"]["cs_h"] == {"value": pytest.approx(48.0), "std": 0.0, "n": 1,
                                                    "within_noise": None}
    assert ours["alpha [gbu]"]["protocols"] == ["gbu"] and ours["alpha [standard]"]["n"] == 1
    assert "cs_h" not in ours["alpha [standard]"]["cells"]
    assert any("gbu and standard protocols" in note and "never averaged" in note
               for note in out["tables"][0]["notes"])


def test_seed_mismatch_between_methods_is_reported(tmp_path):
    for seed in (0, 1, 2):
        write_run(tmp_path, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.5), f"20260101-00000{seed}")
    write_run(tmp_path, "beta", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000009")
    notes = table_json(invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "json"))["tables"][0]["notes"]
    assert any("seeds differ between rows" in n and "alpha 0,1,2" in n and "beta 0" in n for n in notes)
    write_run(tmp_path, "beta", "toy", 1, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000010")
    write_run(tmp_path, "beta", "toy", 2, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000011")
    notes = table_json(invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "json"))["tables"][0]["notes"]
    assert not any("seeds differ" in n for n in notes)


def test_latest_complete_run_per_seed_and_skipped_dirs_are_named(tmp_path):
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.1, 0.1, 0.1, 0.1), "20260101-000000")
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.3, 0.3, 0.3, 0.3), "20260101-000001")
    running = write_run(tmp_path, "alpha", "toy", 0, None, "20260101-000002", state="running")
    corrupt = write_run(tmp_path, "alpha", "toy", 1, single_label_test(0.9, 0.9, 0.9, 0.9), "20260101-000003")
    (corrupt / store.METRICS_FILE).write_text("{truncated")
    future = write_run(tmp_path, "alpha", "toy", 2, single_label_test(0.9, 0.9, 0.9, 0.9), "20260101-000004")
    store.atomic_write_json(future / store.STATUS_FILE, {"state": "complete", "schema": 99})
    result = invoke("alpha", "--runs", str(tmp_path), "--format", "json")
    out = table_json(result)
    row = rows_by(out["tables"][0])[("alpha", "ours")]
    assert row["n"] == 1 and row["run_ids"] == ["20260101-000001-s0-alph"]
    assert row["cells"]["h"]["value"] == pytest.approx(30.0)
    for path, words in ((running, "incomplete"), (corrupt, "unreadable"), (future, "schema 99")):
        line = next(line for line in result.stderr.splitlines() if str(path) in line)
        assert words in line
    assert {item["path"] for item in out["skipped"]} == {str(running), str(corrupt), str(future)}


def test_select_by_run_id_and_tag(tmp_path):
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.1, 0.1, 0.1, 0.1), "20260101-000000", tags=("old",))
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.3, 0.3, 0.3, 0.3), "20260101-000001")
    by_tag = rows_by(table_json(invoke("alpha", "--runs", str(tmp_path), "--tag", "old", "--format", "json"))
                     ["tables"][0])[("alpha", "ours")]
    assert by_tag["cells"]["h"]["value"] == pytest.approx(10.0)
    by_id = rows_by(table_json(invoke("alpha", "--runs", str(tmp_path), "--run-id", "20260101-000000",
                                      "--format", "json"))["tables"][0])[("alpha", "ours")]
    assert by_id["run_ids"] == ["20260101-000000-s0-alph"]
    unknown = invoke("alpha", "--runs", str(tmp_path), "--run-id", "nope")
    assert unknown.exit_code == 2 and "nope" in unknown.stderr


def test_nothing_stored_prints_the_run_command(tmp_path, example_plugin):
    result = invoke("pixel-attr", "--runs", str(tmp_path / "empty"), "--dataset", "example-bars")
    assert result.exit_code == 1
    assert f"zslbench run pixel-attr --dataset example-bars --out {tmp_path / 'empty'}" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_method_lists_registered_ones(tmp_path, example_plugin):
    two_methods(tmp_path)
    result = invoke("alpha", "qqqqqqqqqq", "--runs", str(tmp_path))
    assert result.exit_code == 2
    assert "unknown method 'qqqqqqqqqq'" in result.stderr and "pixel-attr" in result.stderr


def test_dataset_without_runs_says_so(tmp_path, example_plugin):
    two_methods(tmp_path)
    result = invoke("alpha", "--runs", str(tmp_path), "--dataset", "toy", "--dataset", "example-bars")
    assert result.exit_code == 0
    assert "no complete runs on example-bars" in result.stderr
    only_empty = invoke("alpha", "--runs", str(tmp_path), "--dataset", "example-bars")
    assert only_empty.exit_code == 1 and "zslbench run alpha --dataset example-bars" in only_empty.stderr


def test_paper_numbers_beside_ours(tmp_path, monkeypatch):
    from zslbench.plugins import load_plugins

    load_plugins()
    spec = MethodSpec(name="alpha", build=lambda c, o: None, options_type=type(None),
                      reference_results={"TOY": {"T1": 45.0, "U": 50.0, "S": 55.0, "H": 52.4, "source": "Paper, Tab. 1"}})
    monkeypatch.setitem(registry.methods._entries, "alpha", Entry("alpha", spec, Origin("test")))
    two_methods(tmp_path)
    out = table_json(invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "json"))
    table = out["tables"][0]
    paper = rows_by(table)[("alpha", "paper")]
    assert paper["cells"]["h"]["value"] == pytest.approx(52.4) and "ausuc" not in paper["cells"]
    assert paper["source"] == "Paper, Tab. 1"
    assert [r["kind"] for r in table["rows"]] == ["ours", "paper", "ours", "delta"]
    markdown = invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "markdown").stdout
    assert "| _paper_ |  | 45.0 | 50.0 | 55.0 | 52.4 | - |" in markdown


def test_multi_label_runs_show_their_own_metrics(tmp_path):
    for seed, value in ((0, 0.30), (1, 0.40)):
        write_run(tmp_path, "ml", "nus", seed, {"zsl_map": value, "gzsl_map": value / 2, "zsl_f1_at_3": 0.2,
                                                "zsl_precision_at_3": 0.1, "counts": {"images": 5}},
                  f"20260101-00000{seed}", task="multi-label")
    out = table_json(invoke("ml", "--runs", str(tmp_path), "--format", "json"))
    table = out["tables"][0]
    # headline mAP and F1@K by default; precision@K and the like on request
    assert [c["metric"] for c in table["columns"]] == ["zsl_map", "gzsl_map", "zsl_f1_at_3"]
    more = table_json(invoke("ml", "--runs", str(tmp_path), "--format", "json", "--metric", "zsl_precision_at_3"))
    assert [c["metric"] for c in more["tables"][0]["columns"]] == ["zsl_precision_at_3"]
    cells = rows_by(table)[("ml", "ours")]["cells"]
    assert cells["zsl_map"]["value"] == pytest.approx(35.0) and cells["gzsl_map"]["value"] == pytest.approx(17.5)


def test_metric_option_and_other_formats(tmp_path):
    two_methods(tmp_path)
    out = table_json(invoke("alpha", "beta", "--runs", str(tmp_path), "--metric", "H", "--format", "json"))
    assert [c["metric"] for c in out["tables"][0]["columns"]] == ["h"]
    bad = invoke("alpha", "--runs", str(tmp_path), "--metric", "nope")
    assert bad.exit_code == 2 and "stored metrics" in bad.stderr
    csv_text = invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "csv").stdout.splitlines()
    assert csv_text[0].startswith("dataset,method,row,metric,value,std")
    assert "toy,beta,delta,h,9.0000,,3,false,,,Δ vs alpha" in csv_text
    assert "toy,alpha,ours,h,52.0000,2.0000,3,,0 1 2,,alpha" in csv_text
    latex = invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "latex").stdout
    assert r"52.0 $\pm$ 2.0" in latex and r"\begin{tabular}" in latex and r"$\approx$" in latex


def test_run_missing_trains_what_is_absent_then_compares(tmp_path, example_plugin):
    root = tmp_path / "runs"
    args = ("pixel-attr", "--dataset", "example-bars", "--runs", str(root), "--run-missing",
            "--set", "train.epochs=1", "--format", "json")
    first = invoke(*args)
    out = table_json(first)
    row = rows_by(out["tables"][0])[("pixel-attr", "ours")]
    assert row["n"] == 1 and 0.0 <= row["cells"]["t1"]["value"] <= 100.0
    stored = list((root / "example-bars" / "pixel-attr").iterdir())
    assert len(stored) == 1 and json.loads((stored[0] / "config.json").read_text())["train"]["epochs"] == 1
    invoke(*args)  # nothing is missing any more: no second run
    assert len(list((root / "example-bars" / "pixel-attr").iterdir())) == 1


def test_published_columns_sit_beside_the_honest_ones_with_their_gap(tmp_path):
    for seed in range(2):
        run = write_run(tmp_path, "alpha", "toy", seed, single_label_test(0.40, 0.2, 0.6, 0.30), f"20260102-00000{seed}",
                        protocol="published")
        metrics = json.loads((run / store.METRICS_FILE).read_text())
        metrics["published"] = {"published_T1": 0.45 + 0.02 * seed, "published_U": 0.5, "published_S": 0.55,
                                "published_H": 0.50, "published_H_epoch": 2}
        store.atomic_write_json(run / store.METRICS_FILE, metrics)
    write_run(tmp_path, "beta", "toy", 0, single_label_test(0.41, 0.6, 0.6, 0.60), "20260102-000010")
    out = table_json(invoke("alpha", "beta", "--runs", str(tmp_path), "--published", "--format", "json"))
    (table,) = out["tables"]
    assert [c["metric"] for c in table["columns"]] == ["t1", "h", "published_t1", "published_gap_t1", "published_u",
                                                       "published_s", "published_h", "published_gap_h"]
    alpha = rows_by(table)[("alpha", "ours")]["cells"]
    assert alpha["published_t1"]["value"] == pytest.approx(46.0) and alpha["published_gap_t1"]["value"] == pytest.approx(6.0)
    assert alpha["published_gap_h"]["value"] == pytest.approx(20.0)
    assert "published_h" not in rows_by(table)[("beta", "ours")]["cells"]  # a standard run has none
    assert any("chosen on test data, not a result" in note for note in table["notes"])
    plain = table_json(invoke("alpha", "--runs", str(tmp_path), "--format", "json"))
    assert not any(c["metric"].startswith("published") for c in plain["tables"][0]["columns"])


def ours_rows(out: dict) -> dict:
    return {r["label"]: r for r in out["tables"][0]["rows"] if r["kind"] == "ours"}


def test_runs_of_three_protocols_are_three_rows_with_their_own_n(tmp_path):
    for seed in (0, 1):
        for minute, protocol in enumerate(("standard", "gbu", "published")):
            write_run(tmp_path, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.5 + 0.1 * minute),
                      f"20260101-00{minute}00{seed}", protocol=protocol)
    out = table_json(invoke("alpha", "--runs", str(tmp_path), "--format", "json"))
    rows = ours_rows(out)
    assert set(rows) == {"alpha [standard]", "alpha [gbu]", "alpha [published]"}
    assert all(row["n"] == 2 and row["seeds"] == [0, 1] for row in rows.values())
    assert rows["alpha [published]"]["cells"]["h"]["value"] == pytest.approx(70.0)
    assert not any("seeds differ" in note for note in out["tables"][0]["notes"])


def test_a_sweep_over_two_learning_rates_is_two_rows_and_where_picks_one(tmp_path):
    for seed in (0, 1):
        for minute, lr in enumerate((1e-3, 1e-4)):
            write_run(tmp_path, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.4 + 0.2 * minute),
                      f"20260101-00{minute}00{seed}", tags=("sweep:lr",), train={"epochs": 3, "lr": lr})
    out = table_json(invoke("alpha", "--runs", str(tmp_path), "--tag", "sweep:lr", "--format", "json"))
    rows = ours_rows(out)
    assert set(rows) == {"alpha lr=0.001", "alpha lr=0.0001"}
    assert rows["alpha lr=0.0001"]["n"] == 2 and rows["alpha lr=0.0001"]["cells"]["h"]["value"] == pytest.approx(60.0)
    assert rows["alpha lr=0.001"]["n"] == 2 and rows["alpha lr=0.001"]["cells"]["h"]["value"] == pytest.approx(40.0)
    notes = out["tables"][0]["notes"]
    assert any("different train.lr" in n and "never averaged" in n for n in notes)
    assert "setting differs between rows: train.lr: 0.0001 (alpha lr=0.0001); 0.001 (alpha lr=0.001)" in notes
    picked = ours_rows(table_json(invoke("alpha", "--runs", str(tmp_path), "--where", "lr=1e-4", "--format", "json")))
    assert list(picked) == ["alpha"] and picked["alpha"]["n"] == 2  # one group left: nothing to tell apart
    assert picked["alpha"]["cells"]["h"]["value"] == pytest.approx(60.0)


def test_group_by_splits_by_the_named_settings_only_and_warns_of_the_rest(tmp_path):
    for seed, (epochs, lr) in enumerate(((1, 1e-3), (2, 1e-3), (1, 1e-4))):
        write_run(tmp_path, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.5), f"20260101-00000{seed}",
                  train={"epochs": epochs, "lr": lr})
    out = table_json(invoke("alpha", "--runs", str(tmp_path), "--group-by", "train.lr", "--format", "json"))
    rows = ours_rows(out)
    assert {label: row["n"] for label, row in rows.items()} == {"alpha lr=0.001": 2, "alpha lr=0.0001": 1}
    assert any("differ in train.epochs" in n for n in out["tables"][0]["notes"])
    default = ours_rows(table_json(invoke("alpha", "--runs", str(tmp_path), "--format", "json")))
    assert set(default) == {"alpha epochs=1 lr=0.0001", "alpha epochs=1 lr=0.001", "alpha epochs=2 lr=0.001"}


def test_latest_keeps_one_run_per_seed_inside_a_group_and_all_runs_keeps_every_one(tmp_path):
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.2), "20260101-000000")
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.4), "20260101-000001")
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.9), "20260101-000002", protocol="gbu")
    rows = ours_rows(table_json(invoke("alpha", "--runs", str(tmp_path), "--format", "json")))
    assert rows["alpha [standard]"]["n"] == 1 and rows["alpha [standard]"]["cells"]["h"]["value"] == pytest.approx(40.0)
    assert rows["alpha [gbu]"]["n"] == 1  # the later gbu run of seed 0 displaces nothing
    every = ours_rows(table_json(invoke("alpha", "--runs", str(tmp_path), "--all-runs", "--format", "json")))
    assert every["alpha [standard]"]["n"] == 2


def test_settings_that_differ_between_methods_are_listed(tmp_path):
    write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000000",
              train={"epochs": 1})
    write_run(tmp_path, "beta", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000001",
              train={"epochs": 2})
    result = invoke("alpha", "beta", "--runs", str(tmp_path))
    assert "setting differs between rows: train.epochs: 1 (alpha); 2 (beta)" in result.stdout
    assert "method_options" not in result.stdout  # neither has method options


def test_one_methods_options_are_compared_among_its_own_rows_only(tmp_path):
    for seed in (0, 1):
        write_run(tmp_path, "alpha", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), f"20260101-00000{seed}",
                  options={"margin": 1.0 + seed, "depth": 2})
    write_run(tmp_path, "beta", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000009",
              options={"sigma": 5.0})
    notes = table_json(invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "json"))["tables"][0]["notes"]
    listed = [n for n in notes if n.startswith("setting differs between rows")]
    assert listed == ["setting differs between rows: method_options.margin: 1.0 (alpha margin=1.0); "
                      "2.0 (alpha margin=2.0)"]


def test_where_with_an_unknown_setting_is_a_usage_error(tmp_path):
    two_methods(tmp_path)
    result = CliRunner().invoke(main, ["compare", "alpha", "--runs", str(tmp_path), "--where", "nonsense=1"])
    assert result.exit_code == 2 and "no run setting 'nonsense'" in result.output


def test_metric_defined_by_a_protocol_but_not_stored_names_the_rows_lacking_it(tmp_path):
    two_methods(tmp_path)  # standard protocol: no calibrated numbers
    out = table_json(invoke("alpha", "beta", "--runs", str(tmp_path), "--metric", "cs_h", "--metric", "h",
                            "--format", "json"))
    table = out["tables"][0]
    assert [c["metric"] for c in table["columns"]] == ["cs_h", "h"]
    assert any(n.startswith("CS-H: not stored by alpha, beta") and "--protocol gbu" in n for n in table["notes"])
    result = CliRunner().invoke(main, ["compare", "alpha", "--runs", str(tmp_path), "--metric", "zsl_f1_at_3",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    wrong = CliRunner().invoke(main, ["compare", "alpha", "--runs", str(tmp_path), "--metric", "bogus"])
    assert wrong.exit_code == 2 and "unknown metric 'bogus'" in wrong.output and "cs_h" in wrong.output


def test_latex_marks_the_best_row_per_column_in_bold_with_pm_stds(tmp_path):
    two_methods(tmp_path)  # H: alpha 52.0 ± 2.0, beta 61.0 ± 1.0; T1: alpha 42.0, beta 43.0
    latex = invoke("alpha", "beta", "--runs", str(tmp_path), "--format", "latex").stdout
    alpha = next(line for line in latex.splitlines() if line.startswith("alpha &"))
    beta = next(line for line in latex.splitlines() if line.startswith("beta &"))
    assert r"\textbf{61.0 $\pm$ 1.0}" in beta and r"\textbf{43.0 $\pm$ 2.0}" in beta
    assert r"52.0 $\pm$ 2.0" in alpha and r"\textbf{52.0" not in alpha
    assert r"\textbf{50.0" not in alpha and r"\textbf{60.0 $\pm$ 0.0}" in beta  # U and S: 50 vs 60
    assert alpha.count(r"\textbf{30.0") == 1 == beta.count(r"\textbf{30.0")  # AUSUC tied: both bold
