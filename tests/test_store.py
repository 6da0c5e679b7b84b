import json

import pytest

from zslbench import store


def _write_run(root, dataset="d", method="m", run_id="20260101-000000-s0-aaaaaa", state="complete", metrics=True):
    run = store.run_dir_for(root, dataset, method, run_id)
    store.atomic_write_json(run / store.CONFIG_FILE, {"method": method, "dataset": dataset, "seed": 0})
    store.write_status(run, state)
    if metrics:
        store.atomic_write_json(run / store.METRICS_FILE, {"test": {"h": 0.5}})
    return run


def test_atomic_write_leaves_no_temp_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    store.atomic_write_json(target, {"a": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(OSError):
        store.atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_scan_reads_complete_and_reports_corrupt(tmp_path):
    good = _write_run(tmp_path)
    broken = _write_run(tmp_path, run_id="20260101-000001-s0-bbbbbb")
    (broken / store.CONFIG_FILE).write_text("{not json")
    future = _write_run(tmp_path, run_id="20260101-000002-s0-cccccc")
    store.atomic_write_json(future / store.STATUS_FILE, {"state": "complete", "schema": 99})
    runs, bad = store.scan_runs(tmp_path)
    assert [r.path for r in runs] == [good]
    assert runs[0].complete and runs[0].metrics == {"test": {"h": 0.5}}
    reasons = dict(bad)
    assert "unreadable" in reasons[broken] and "schema 99" in reasons[future]


def test_incomplete_run_is_not_complete(tmp_path):
    run = _write_run(tmp_path, state="running", metrics=False)
    record = store.read_run(run)
    assert not record.complete


def test_environment_has_provenance():
    env = store.environment("cpu")
    for key in ("zslbench", "torch", "timm", "python", "device", "git_commit", "plugins"):
        assert key in env
    assert env["device"] == "cpu"
    assert env["git_dirty"] in (True, False, None)
    if env["git_commit"] is not None:
        assert env["git_commit"].endswith("-dirty") == env["git_dirty"]
    assert env["torch"].startswith(env["packages"]["torch"])  # torch adds its build (+cu130)
    assert "numpy" in env["packages"] and list(env["packages"]) == sorted(env["packages"])


def test_git_dirty_follows_the_working_tree(tmp_path, monkeypatch):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (repo / "f.txt").write_text("a")
    run("add", "f.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    monkeypatch.setattr(store, "__file__", str(repo / "pkg" / "store.py"))  # the checkout store.py lives in
    commit, dirty = store.git_state()
    assert len(commit) == 40 and dirty is False
    (repo / "f.txt").write_text("b")
    assert store.git_state() == (commit, True)


def test_metrics_stored_with_the_old_at_spelling_read_back_under_one_name(tmp_path):
    run = _write_run(tmp_path)
    store.atomic_write_json(run / store.METRICS_FILE, {"task": "multi-label", "test": {"zsl_f1@3": 0.2}})
    assert store.read_run(run).metrics["test"] == {"zsl_f1_at_3": 0.2}
