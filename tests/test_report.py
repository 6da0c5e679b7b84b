"""``zslbench report``: a Markdown report with tables, pictures, provenance and reproduce commands."""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner

from zslbench.cli import main
from zslbench.results.report import reproduce_command, toml_literal

from test_compare import single_label_test, two_methods, write_run
from test_plots import assert_png, assert_truetype_pdf


def report(*args: str):
    return CliRunner().invoke(main, ["report", *args], catch_exceptions=False)


def test_report_links_pictures_and_details_every_run(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    two_methods(runs)
    bad = write_run(runs, "alpha", "toy", 5, single_label_test(0.1, 0.1, 0.1, 0.1), "20260101-000099")
    (bad / "config.json").write_text("{")
    result = report("alpha", "beta", "--runs", str(runs), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert str(bad) in result.stderr
    text = (out / "README.md").read_text()
    assert "### toy" in text and "52.0 ± 2.0" in text and "Δ vs alpha" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["toy-curves.png", "toy-per-class.png"]
    for link in links:
        assert_png(out / link)  # relative links resolve inside the report folder
    assert text.count("<details>") == 6 == text.count("</details>")
    assert '"git_commit": "abc123"' in text
    assert "zslbench run alpha --dataset toy --seed 2" in text
    assert "## Skipped run directories" in text and str(bad) in text


def test_report_without_curves_says_why(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    write_run(runs, "alpha", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000000", curve=False)
    assert report("--runs", str(runs), "--out", str(out)).exit_code == 0
    text = (out / "README.md").read_text()
    assert "No stored seen-unseen curve for runs 20260101-000000-s0-alph" in text
    assert not (out / "toy-curves.png").exists() and (out / "toy-per-class.png").exists()


def test_report_with_nothing_stored_fails_with_the_command(tmp_path):
    result = report("--runs", str(tmp_path / "none"), "--out", str(tmp_path / "report"))
    assert result.exit_code == 1 and "zslbench run" in result.stderr
    assert not (tmp_path / "report" / "README.md").exists()


def _parse_run_command(command: str) -> tuple[str, str, list[str], dict]:
    words = shlex.split(command)
    assert words[:2] == ["zslbench", "run"]
    method, rest = words[2], words[3:]
    options: dict = {}
    set_items: list[str] = []
    dataset = None
    for flag, value in zip(rest[::2], rest[1::2]):
        if flag == "--set":
            set_items.append(value)
        elif flag == "--dataset":
            dataset = value
        elif flag == "--seed":
            options["seed"] = int(value)
        elif flag == "--protocol":
            options["protocol"] = value
        elif flag == "--tag":
            options.setdefault("tags", []).append(value)
    return method, dataset, set_items, options


def test_reproduce_command_round_trips_the_stored_config(example_plugin):
    from zslbench.runner import resolve_run

    stored = resolve_run("pixel-attr", "example-bars", None,
                         ["train.lr=0.01", "method.pooled_size=2", "data.text_encoder=hashing", "train.amp=false",
                          "train.grad_clip_norm=none"],
                         {"seed": 3, "protocol": "gbu", "tags": ["paper"], "out": "/somewhere"}).config.to_dict()
    command = reproduce_command(stored)
    assert "--set train.lr=0.01" in command and "--set method.pooled_size=2" in command
    assert "--set train.epochs" not in command  # defaults are not repeated
    method, dataset, set_items, overrides = _parse_run_command(command)
    again = resolve_run(method, dataset, None, set_items, overrides).config.to_dict()
    stored.pop("out"), again.pop("out")
    assert again == stored


@pytest.mark.parametrize("value, literal", [
    (None, "none"), (True, "true"), (3, "3"), (1e-4, "0.0001"), ("cub", "cub"), ("1e-4", '"1e-4"'),
    ("true", '"true"'), ([1, 2], "[1, 2]"), (["a", "b"], '["a", "b"]'),
])
def test_toml_literals_read_back_as_the_same_value(value, literal):
    from zslbench.config import parse_set

    assert toml_literal(value) == literal
    if value is not None:
        assert parse_set([f"k={literal}"])["k"] == value


def test_report_labels_published_numbers_as_chosen_on_test_data(tmp_path):
    import json

    from zslbench import store

    runs, out = tmp_path / "runs", tmp_path / "report"
    run = write_run(runs, "alpha", "toy", 0, single_label_test(0.40, 0.2, 0.6, 0.30), "20260102-000000",
                    protocol="published")
    metrics = json.loads((run / store.METRICS_FILE).read_text())
    metrics["published"] = {"published_T1": 0.45, "published_U": 0.5, "published_S": 0.55, "published_H": 0.52}
    store.atomic_write_json(run / store.METRICS_FILE, metrics)
    assert report("alpha", "--runs", str(runs), "--out", str(out)).exit_code == 0
    text = (out / "README.md").read_text()
    section = text.split("## Chosen on test data (as-published protocol)")[1].split("## Runs used")[0]
    assert "H chosen on test" in section and "52.0" in section and "not a result" in section
    assert "--protocol published" in text  # the reproduce command
    results_part = text.split("## Chosen on test data")[0]
    assert "chosen on test" not in results_part  # never among the headline results


def _headline_table(text: str) -> list[str]:
    """The pipe-table lines of the first results table of a report."""
    section = text.split("## Results", 1)[1].split("## Runs used", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_report_flags_non_default_settings_in_the_headline_table(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    two_methods(runs)  # every run stored train.epochs=3 (the default is 10)
    assert report("alpha", "beta", "--runs", str(runs), "--out", str(out)).exit_code == 0
    text = (out / "README.md").read_text()
    header, _, alpha_row, *_ = _headline_table(text)
    assert header.rstrip(" |").endswith("non-default settings")
    assert alpha_row.startswith("| **alpha**") and "`train.epochs=3`" in alpha_row
    assert "non-default settings: config values that differ" in text
    assert (out / "toy-curves.pdf").read_bytes()[:5] == b"%PDF-" and "(toy-curves.pdf)" in text


def test_report_separates_protocols_and_names_seed_mismatches(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    for seed in (0, 1):
        write_run(runs, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.5), f"20260101-00000{seed}")
    write_run(runs, "alpha", "toy", 2, single_label_test(0.2, 0.3, 0.3, 0.3), "20260101-000002", protocol="gbu")
    write_run(runs, "beta", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000010")
    assert report("alpha", "beta", "--runs", str(runs), "--out", str(out)).exit_code == 0
    text = (out / "README.md").read_text()
    rows = _headline_table(text)
    assert any(r.startswith("| **alpha [gbu]** | 1 |") for r in rows)
    assert any(r.startswith("| **alpha [standard]** | 2 |") for r in rows)
    assert "never averaged together" in text
    assert "seeds differ between rows on toy (alpha [gbu] 2; alpha [standard] 0,1; beta [standard] 0)" in text


def test_report_figures_show_exactly_the_tables_rows(tmp_path):
    from zslbench.results.report import write_report

    runs, out = tmp_path / "runs", tmp_path / "report"
    for seed in (0, 1):
        write_run(runs, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.5), f"20260101-00000{seed}")
        write_run(runs, "alpha", "toy", seed, single_label_test(0.3, 0.4, 0.4, 0.4), f"20260101-00010{seed}",
                  protocol="gbu")
        write_run(runs, "beta", "toy", seed, single_label_test(0.2, 0.3, 0.3, 0.3), f"20260101-00020{seed}",
                  train={"epochs": 3, "lr": 1e-4 if seed else 1e-3})
    outcome = write_report(runs, out, ("alpha", "beta"))
    text = (out / "README.md").read_text()
    table_rows = {}
    for line in _headline_table(text)[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0].startswith("**"):
            table_rows[cells[0].strip("*")] = int(cells[1])
    assert len(table_rows) == 4  # alpha [standard], alpha [gbu], beta lr=0.001, beta lr=0.0001
    curves = outcome.figures["toy-curves.png"]
    assert {g["label"]: g["runs"] for g in curves["groups"]} == table_rows
    per_class = outcome.figures["toy-per-class.png"]
    assert list(per_class["methods"]) == list(table_rows)
    pdfs = sorted(out.glob("*.pdf"))
    assert [p.name for p in pdfs] == ["toy-curves.pdf", "toy-per-class.pdf"]
    for pdf in pdfs:
        assert_truetype_pdf(pdf)


def test_report_lists_every_setting_that_differs_between_rows(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    for seed, epochs in enumerate((1, 1, 2)):
        write_run(runs, "alpha", "toy", seed, single_label_test(0.4, 0.5, 0.5, 0.5), f"20260101-00000{seed}",
                  train={"epochs": epochs, "lr": 1e-3})
    assert report("alpha", "--runs", str(runs), "--out", str(out)).exit_code == 0
    rows = {line.split("|")[1].strip(): line for line in _headline_table((out / "README.md").read_text())[2:]}
    assert set(rows) == {"**alpha epochs=1**", "**alpha epochs=2**"}
    assert "`train.epochs=1`" in rows["**alpha epochs=1**"] and "`train.epochs=2`" in rows["**alpha epochs=2**"]
    assert "| **alpha epochs=1** | 2 |" in rows["**alpha epochs=1**"]


def test_multi_label_report_names_its_own_metrics_and_draws_per_label_ap(tmp_path):
    import json

    from zslbench import store
    from zslbench.results.report import write_report

    runs, out = tmp_path / "runs", tmp_path / "report"
    for seed, value in ((0, 0.30), (1, 0.40)):
        run = write_run(runs, "ml", "nus", seed, {"zsl_map": value, "gzsl_map": value / 2, "zsl_f1_at_3": 0.2},
                        f"20260101-00000{seed}", task="multi-label")
        metrics = json.loads((run / store.METRICS_FILE).read_text())
        metrics["per_label_ap"] = {"unseen": {"sky": value, "cat": 0.5, "boat": 0.1 + value}}
        store.atomic_write_json(run / store.METRICS_FILE, metrics)
    outcome = write_report(runs, out, ("ml",))
    text = (out / "README.md").read_text()
    assert "per-class mean top-1" not in text and "mAP (mean average precision over labels)" in text
    drawn = outcome.figures["nus-per-label-ap.png"]
    assert list(drawn["methods"]) == ["ml"] and drawn["names"] == ["cat", "boat", "sky"]
    assert drawn["methods"]["ml"] == pytest.approx([50.0, 45.0, 35.0])
    assert "(nus-per-label-ap.png)" in text
    assert_png(out / "nus-per-label-ap.png")
