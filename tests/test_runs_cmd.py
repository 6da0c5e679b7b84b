"""``zslbench runs ls / rm`` on hand-written run directories, and no run directory left by a usage error."""

from __future__ import annotations

import dataclasses

from click.testing import CliRunner

from zslbench import registry
from zslbench.cli import main
from zslbench.methods import MethodSpec
from zslbench.registry import Entry, Origin

from test_compare import single_label_test, write_run


def runs(*args: str):
    return CliRunner().invoke(main, ["runs", *args])


def small_store(root):
    done = write_run(root, "alpha", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.5), "20260101-000000")
    failed = write_run(root, "alpha", "toy", 1, None, "20260101-000001", state="failed")
    tagged = write_run(root, "beta", "toy", 0, single_label_test(0.4, 0.5, 0.5, 0.6), "20260101-000002",
                       tags=("old",))
    corrupt = write_run(root, "beta", "toy", 1, single_label_test(0.4, 0.5, 0.5, 0.6), "20260101-000003")
    (corrupt / "config.json").write_text("{")
    return done, failed, tagged, corrupt


def test_ls_lists_every_run_with_state_and_filters(tmp_path):
    done, failed, tagged, corrupt = small_store(tmp_path)
    result = runs("ls", "--runs", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [done.name, failed.name, tagged.name, corrupt.name]
    assert "toy/alpha  seed 0  standard  complete  H 50.0" in lines[0]
    assert "unreadable" in lines[3]
    only_failed = runs("ls", "--runs", str(tmp_path), "--failed").stdout.splitlines()
    assert [line.split()[0] for line in only_failed] == [failed.name, corrupt.name]
    assert runs("ls", "--runs", str(tmp_path), "--tag", "old").stdout.split()[0] == tagged.name


def test_rm_dry_run_removes_nothing_then_rm_removes_the_chosen_runs(tmp_path):
    done, failed, tagged, corrupt = small_store(tmp_path)
    dry = runs("rm", "--runs", str(tmp_path), "--failed", "--dry-run")
    assert dry.exit_code == 0 and f"would remove {failed}" in dry.stdout and str(corrupt) in dry.stdout
    assert failed.exists() and corrupt.exists()
    result = runs("rm", "--runs", str(tmp_path), "--failed")
    assert result.exit_code == 0, result.output
    assert not failed.exists() and not corrupt.exists() and done.exists() and tagged.exists()
    assert runs("rm", "--runs", str(tmp_path), "--tag", "old").exit_code == 0 and not tagged.exists()
    assert runs("rm", "--runs", str(tmp_path), done.name[:12]).exit_code == 0 and not done.exists()


def test_rm_needs_a_choice_and_names_unknown_ids(tmp_path):
    done, *_ = small_store(tmp_path)
    nothing = runs("rm", "--runs", str(tmp_path))
    assert nothing.exit_code == 2 and "needs RUN_IDS" in nothing.output and done.exists()
    unknown = runs("rm", "--runs", str(tmp_path), "nope")
    assert unknown.exit_code == 2 and "no run with id 'nope'" in unknown.output


def test_rm_keeps_a_run_another_live_process_writes(tmp_path):
    from zslbench.run_lock import RunLock

    _, failed, *_ = small_store(tmp_path)
    with RunLock(failed):  # this process holds it: to rm, another writer
        result = runs("rm", "--runs", str(tmp_path), failed.name)
    assert result.exit_code == 0 and failed.exists() and "another live process writes it" in result.output


def test_a_usage_error_found_after_the_run_directory_exists_leaves_no_run(tmp_path, monkeypatch):
    from zslbench.plugins import load_plugins

    load_plugins()
    @dataclasses.dataclass
    class NoOptions:
        pass

    spec = MethodSpec(name="featureless", build=lambda c, o: None, options_type=NoOptions, kind="feature")
    monkeypatch.setitem(registry.methods._entries, "featureless", Entry("featureless", spec, Origin("test")))
    result = CliRunner().invoke(main, ["run", "featureless", "--dataset", "synthetic-tiny", "--out", str(tmp_path),
                                       "--quiet"])
    assert result.exit_code == 2 and "needs a backbone" in result.output
    assert not list(tmp_path.rglob("config.json"))
