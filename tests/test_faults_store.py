"""Hostile files in the run store: nothing followed out of a run dir, malformed files are one line, resume writes nothing it refuses.

Issue 27, items 1 (symlinked lock), 2 (one malformed run breaks the store),
3 (``--resume`` checks the whole checkpoint and every side file before
writing), 7 (races and leftovers: complete-check under the lock, stale
assembly folders, SIGHUP/SIGQUIT). Each case checks the exit code, exactly
one ``Error`` line, no traceback, the run directory byte-identical and nothing
outside the store touched. docs/reliability.md ("Run store: hostile files")
lists them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from zslbench import store
from zslbench.checkpoints import load_checkpoint, save_checkpoint

from conftest import write_dist_info
from test_faults import QUICK, _subprocess_env, assert_one_line_error, interrupted_run, invoke, only_run, snapshot

VICTIM_TEXT = "precious data outside the store\n"


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM_TEXT)
    return victim


def _complete_run(root: Path, *args) -> Path:
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", root, "--epochs", 1, *args, *QUICK)
    assert result.exit_code == 0, result.output
    return only_run(root)


def _stop_at(root: Path, monkeypatch, file_name: str, *args) -> Path:
    """A run stopped (Ctrl-C) right after its first save of ``file_name`` (a gbu run: either phase)."""
    from zslbench.training import engine

    real = engine.save_checkpoint

    def save_then_stop(path, state):
        real(path, state)
        if Path(path).name == file_name:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine, "save_checkpoint", save_then_stop)
    result = invoke("run", "pixel-attr", "-d", "example-bars", "--out", root, *args, *QUICK)
    monkeypatch.setattr(engine, "save_checkpoint", real)
    assert result.exit_code == 130, result.output
    return only_run(root)


def _refused_resume(run: Path, code: int, message: str) -> None:
    """``run --resume`` refuses in one line and leaves every byte of the run directory as it was."""
    before = snapshot(run)
    result = invoke("run", "--resume", run, *QUICK)
    assert_one_line_error(result, code, message)
    assert snapshot(run) == before


# --------------------------------------------------------------------------- 1. links out of a run directory


@pytest.mark.parametrize("how", ["symlink", "dangling-symlink", "hardlink"])
def test_a_lock_linked_out_of_the_run_is_refused_and_its_target_untouched(example_plugin, tmp_path, monkeypatch, how):
    run = interrupted_run(tmp_path / "runs", monkeypatch)
    victim = _victim(tmp_path)
    (run / ".lock").unlink(missing_ok=True)
    if how == "symlink":
        os.symlink(victim, run / ".lock")
    elif how == "dangling-symlink":
        os.symlink(tmp_path / "created-outside", run / ".lock")
    else:
        os.link(victim, run / ".lock")
    message = "hard-linked" if how == "hardlink" else ".lock is a symbolic link"
    _refused_resume(run, 1, message)
    assert victim.read_text() == VICTIM_TEXT
    assert not (tmp_path / "created-outside").exists()
    assert json.loads((run / store.STATUS_FILE).read_text())["state"] == "interrupted"


def test_the_lock_itself_never_follows_a_link(tmp_path):
    """Below the up-front check (a link made after it): O_NOFOLLOW on the lock file and on the run directory."""
    from zslbench.run_lock import RunLock

    victim = _victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    os.symlink(victim, run / ".lock")
    with pytest.raises(store.UnsafeRunDir, match="is a symbolic link"):
        RunLock(run).acquire()
    linked_run = tmp_path / "linked-run"
    os.symlink(tmp_path / "elsewhere", linked_run)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(store.UnsafeRunDir, match="the run directory .* is a symbolic link"):
        RunLock(linked_run).acquire()
    assert victim.read_text() == VICTIM_TEXT and not (tmp_path / "elsewhere" / ".lock").exists()


@pytest.mark.parametrize("name", [store.STATUS_FILE, store.CONFIG_FILE, store.CHECKPOINT_FILE, "env.json"])
def test_a_run_file_linked_out_of_the_run_is_refused_by_resume_and_explain(example_plugin, tmp_path, monkeypatch,
                                                                           name):
    run = interrupted_run(tmp_path / "runs", monkeypatch)
    outside = tmp_path / f"outside-{name}"
    shutil.move(run / name, outside)  # a valid file, but reached through a link
    os.symlink(outside, run / name)
    kept = outside.read_bytes()
    _refused_resume(run, 1, f"{name} is a symbolic link")  # the writer's check: no link anywhere in the run
    result = invoke("explain", run, "--index", "0", "--out", tmp_path / "x.png")
    assert_one_line_error(result, 2 if name != store.CHECKPOINT_FILE else 1, f"{name} is a symbolic link")
    assert outside.read_bytes() == kept and not (tmp_path / "x.png").exists()


def test_a_run_directory_that_is_a_link_is_refused_and_skipped(example_plugin, tmp_path, monkeypatch):
    run = interrupted_run(tmp_path / "runs", monkeypatch)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(run, elsewhere)
    os.symlink(elsewhere, run)
    before = snapshot(elsewhere)
    _refused_resume(run, 1, "the run directory is a symbolic link")
    _, bad = store.scan_runs(tmp_path / "runs")
    assert [(p, r) for p, r in bad] == [(run, "the run directory is a symbolic link")]
    assert snapshot(elsewhere) == before


# --------------------------------------------------------------------------- 2. malformed run files


def _edit_json(path: Path, change) -> bytes:
    obj = json.loads(path.read_text())
    change(obj)
    return json.dumps(obj).encode()


MALFORMED = {
    # case: (file, new content (bytes, or a function of the file's path), message)
    "status-is-a-list": (store.STATUS_FILE, b"[1, 2]", "status.json holds a list, expected an object"),
    "status-state-not-a-string": (store.STATUS_FILE, b'{"state": 3, "schema": 1}', "'state' is an integer"),
    "status-without-schema": (store.STATUS_FILE, b'{"state": "complete"}', "status.json has no 'schema'"),
    "config-is-a-list": (store.CONFIG_FILE, b"[1, 2]", "config.json holds a list, expected an object"),
    "config-seed-abc": (store.CONFIG_FILE, lambda p: _edit_json(p, lambda c: c.update(seed="abc")),
                        "config.json: 'seed' is a string, expected an integer"),
    "config-method-null": (store.CONFIG_FILE, lambda p: _edit_json(p, lambda c: c.update(method=None)),
                           "config.json: 'method' is null, expected a string"),
    "config-tags-not-a-list": (store.CONFIG_FILE, lambda p: _edit_json(p, lambda c: c.update(tags=5)),
                               "'tags' is an integer"),
    "config-options-a-list": (store.CONFIG_FILE, lambda p: _edit_json(p, lambda c: c.update(method_options=[1])),
                              "'method_options' is a list"),
    "config-empty": (store.CONFIG_FILE, b"", "config.json is unreadable: not valid JSON"),
    "config-not-utf8": (store.CONFIG_FILE, b'{"method": "\xff\xfe"}', "config.json is unreadable: not UTF-8"),
    "metrics-is-a-list": (store.METRICS_FILE, b"[]", "metrics.json holds a list, expected an object"),
    "metrics-truncated": (store.METRICS_FILE, lambda p: p.read_bytes()[:40], "metrics.json is unreadable"),
    "metrics-nested-too-deeply": (store.METRICS_FILE, b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "metrics-test-a-list": (store.METRICS_FILE, b'{"test": [1]}', "metrics.json: 'test' is a list"),
    "metrics-score-a-string": (store.METRICS_FILE, lambda p: _edit_json(p, lambda m: m["test"].update(h="high")),
                               "test 'h' is a string, expected a number"),
    "metrics-per-class-not-a-table": (
        store.METRICS_FILE, lambda p: _edit_json(p, lambda m: m["test"]["per_class"].update(zsl_unseen="x")),
        "per_class 'zsl_unseen' is not a table"),
    "metrics-curve-of-strings": (store.METRICS_FILE, lambda p: _edit_json(p, lambda m: m["curve"].update(seen=["a"])),
                                 "curve: 'seen' is a list"),
    "metrics-score-null": (store.METRICS_FILE, lambda p: _edit_json(p, lambda m: m["test"].update(u=None)),
                           "test 'u' is null, expected a number"),
    "metrics-curve-lengths-differ": (store.METRICS_FILE, lambda p: _edit_json(p, lambda m: m["curve"].update(unseen=[])),
                                     "curve 'seen' and 'unseen' differ in length"),
    "timings-a-string": (store.TIMINGS_FILE, b'{"total_seconds": "long"}', "timings.json: 'total_seconds' is a string"),
    "env-is-a-list": (store.ENV_FILE, b"[]", "env.json holds a list, expected an object"),
    "status-a-fifo": (store.STATUS_FILE, "fifo", "status.json is not a plain file"),
    "status-a-link-out": (store.STATUS_FILE, "link", "status.json is a symbolic link"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_one_malformed_run_is_skipped_by_listings_and_refused_by_commands(example_plugin, tmp_path, case):
    name, content, message = MALFORMED[case]
    root = tmp_path / "runs"
    good = _complete_run(root)
    bad = good.with_name(good.name[:-6] + "ffffff")  # a later copy of the good run, then damaged
    shutil.copytree(good, bad)
    victim = _victim(tmp_path)
    (bad / name).unlink()
    if content == "fifo":
        os.mkfifo(bad / name)
    elif content == "link":
        victim.write_text((good / name).read_text())
        os.symlink(victim, bad / name)
    else:
        (bad / name).write_bytes(content(good / name) if callable(content) else content)
    victim_before = victim.read_bytes()
    before = snapshot(root)

    for command in (["compare", "--runs", root], ["report", "--runs", root, "--out", tmp_path / "report"]):
        result = invoke(*command)
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
        warnings = [line for line in result.output.splitlines() if line.startswith("warning: skipped")]
        assert len(warnings) == 1 and bad.name in warnings[0] and message in warnings[0], result.output
    import zslbench

    for complete in (False, True):
        with pytest.warns(RuntimeWarning) as caught:
            assert [r.path for r in zslbench.load_runs(root, complete=complete)] == [good]
        assert len(caught) == 1 and bad.name in str(caught[0].message) and message in str(caught[0].message)

    result = invoke("explain", bad, "--index", "0", "--out", tmp_path / "x.png")
    assert_one_line_error(result, 2, message)
    result = invoke("run", "--resume", bad, *QUICK)
    assert_one_line_error(result, 1 if content in ("fifo", "link") else 2, message)
    assert snapshot(root) == before and victim.read_bytes() == victim_before
    assert not (tmp_path / "x.png").exists()


def test_the_undamaged_copy_used_above_is_readable_and_resumable(example_plugin, tmp_path):
    """Control for the test above: the copied run itself is fine (so the damage is what is refused)."""
    root = tmp_path / "runs"
    good = _complete_run(root)
    copy = good.with_name(good.name[:-6] + "ffffff")
    shutil.copytree(good, copy)
    runs, bad = store.scan_runs(root)
    assert [r.path for r in runs] == [good, copy] and bad == []
    store.write_status(copy, "interrupted")
    assert invoke("run", "--resume", copy, *QUICK).exit_code == 0


# --------------------------------------------------------------------------- 3. --resume checks everything first


def _rewrite_checkpoint(path: Path, change) -> None:
    state = load_checkpoint(path)
    change(state)
    save_checkpoint(path, state)


def _other_shape(state: dict) -> None:
    key = next(iter(state["model"]))
    state["model"][key] = torch.zeros(*[n + 1 for n in state["model"][key].shape])


def _wrong_moment(state: dict) -> None:
    moments = next(iter(state["optimizer"]["state"].values()))
    moments["exp_avg"] = torch.zeros(7, 3)


CHECKPOINT_CONTENT = {
    "another-models-shapes": (_other_shape, "the model's is"),
    "no-model": (lambda s: s.pop("model"), "it has no 'model'"),
    "an-extra-weight": (lambda s: s["model"].update(extra=torch.zeros(2)), "1 unexpected"),
    "a-missing-weight": (lambda s: s["model"].pop(next(iter(s["model"]))), "1 missing"),
    "weights-of-another-dtype": (lambda s: s["model"].update({k: v.double() for k, v in s["model"].items()}),
                                 "torch.float64"),
    "history-not-a-list": (lambda s: s.update(history={"epoch": 0}), "its history is not a list of 1"),
    "history-too-short": (lambda s: s.update(history=[]), "its history is not a list of 1"),
    "history-entry-damaged": (lambda s: s["history"][0].update(losses="low"), "history entry 0 is not an epoch record"),
    "epoch-not-an-integer": (lambda s: s.update(epoch="1"), "its epoch '1' is not a positive integer"),
    "optimizer-missing": (lambda s: s.pop("optimizer"), "its 'optimizer' is missing"),
    "optimizer-of-other-shapes": (_wrong_moment, "its optimizer 'exp_avg' is (7, 3)"),
    "rng-damaged": (lambda s: s["rng"].update(torch=torch.zeros(3, dtype=torch.uint8)), "its random state is damaged"),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CONTENT))
def test_a_valid_safetensors_file_with_the_wrong_content_is_refused_before_any_write(example_plugin, tmp_path,
                                                                                     monkeypatch, case):
    change, message = CHECKPOINT_CONTENT[case]
    run = interrupted_run(tmp_path / "runs", monkeypatch)
    _rewrite_checkpoint(run / store.CHECKPOINT_FILE, change)
    _refused_resume(run, 1, message)  # status.json, env.json stay byte-identical
    assert json.loads((run / store.STATUS_FILE).read_text())["state"] == "interrupted"


def test_a_validation_checkpoint_without_the_validation_scores_is_refused(example_plugin, tmp_path, monkeypatch):
    run = _stop_at(tmp_path / "runs", monkeypatch, store.VALIDATION_CHECKPOINT_FILE, "--protocol", "gbu",
                   "--epochs", 3)
    _rewrite_checkpoint(run / store.VALIDATION_CHECKPOINT_FILE, lambda s: s["history"][0].update(extra={}))
    _refused_resume(run, 1, "with val_cs_h, val_gamma")


VALIDATION_JSON = {
    "not-utf8": (b"\xff\xfe{}", "validation.json is unreadable: not UTF-8"),
    "a-list": (b"[]", "validation.json holds a list"),
    "no-chosen-gamma": (b'{"chosen_epochs": 1}', "validation.json has no 'chosen_gamma'"),
    "gamma-a-string": (b'{"chosen_epochs": 1, "chosen_gamma": "x"}', "'chosen_gamma' is a string"),
    "gamma-infinite": (b'{"chosen_epochs": 1, "chosen_gamma": Infinity}', "chosen_gamma inf is not finite"),
    "zero-epochs": (b'{"chosen_epochs": 0, "chosen_gamma": 0.5}', "chosen_epochs 0 is outside 1..3"),
    "endless-epochs": (b'{"chosen_epochs": 100000000000000000000000, "chosen_gamma": 0.5}', "is outside 1..3"),
}


@pytest.mark.parametrize("case", sorted(VALIDATION_JSON))
def test_a_damaged_validation_json_of_a_gbu_run_is_refused_before_any_write(example_plugin, tmp_path, monkeypatch,
                                                                            case):
    content, message = VALIDATION_JSON[case]
    run = _stop_at(tmp_path / "runs", monkeypatch, store.CHECKPOINT_FILE, "--protocol", "gbu", "--epochs", 3)
    assert (run / store.VALIDATION_FILE).exists()
    (run / store.VALIDATION_FILE).write_bytes(content)
    _refused_resume(run, 2, message)


def test_a_gbu_run_stopped_in_either_phase_resumes(example_plugin, tmp_path, monkeypatch):
    """Control for the two tests above: the undamaged files resume."""
    for phase in (store.VALIDATION_CHECKPOINT_FILE, store.CHECKPOINT_FILE):
        run = _stop_at(tmp_path / phase, monkeypatch, phase, "--protocol", "gbu", "--epochs", 2)
        result = invoke("run", "--resume", run, *QUICK)
        assert result.exit_code == 0, result.output
        assert store.read_run(run).complete


# --------------------------------------------------------------------------- 7. races and leftovers


def test_a_run_that_completes_while_resume_starts_is_not_rewritten(example_plugin, tmp_path, monkeypatch):
    """The complete-check is repeated under the lock: a run that finished in between keeps every byte."""
    from zslbench import runner

    run = interrupted_run(tmp_path / "runs", monkeypatch)
    real_load = runner.load_dataset
    finished: dict = {}

    def load_while_the_other_process_finishes(*args, **kwargs):
        dataset = real_load(*args, **kwargs)
        store.atomic_write_json(run / store.METRICS_FILE, {"test": {"h": 0.5}})
        store.atomic_write_json(run / store.TIMINGS_FILE, {"total_seconds": 1.0})
        store.write_status(run, "complete")
        finished.update(snapshot(run))
        return dataset

    monkeypatch.setattr(runner, "load_dataset", load_while_the_other_process_finishes)
    result = invoke("run", "--resume", run, *QUICK)
    assert_one_line_error(result, 2, "is already complete")
    assert finished and snapshot(run) == finished


_KILL_DURING_ASSEMBLY = """
import os, signal, sys
from zslbench import store
def killed(src, dst):
    os.kill(os.getpid(), signal.SIGKILL)
store.os.rename = killed
store.create_run_dir(store.run_dir_for(sys.argv[1], "example-bars", "pixel-attr", "20200101-000000-s0-aaaaaa"),
                     {"method": "pixel-attr", "dataset": "example-bars"}, store.status_record("running"))
"""


def test_a_kill_9_during_assembly_leaves_a_folder_that_the_next_run_removes(example_plugin, tmp_path):
    root = tmp_path / "runs"
    killed = subprocess.run([sys.executable, "-c", _KILL_DURING_ASSEMBLY, str(root)], env=_subprocess_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    method_dir = root / "example-bars" / "pixel-attr"
    (leftover,) = method_dir.glob(".20200101-000000-s0-aaaaaa.*.tmp")
    assert (leftover / store.CONFIG_FILE).exists()
    run = _complete_run(root)
    assert not leftover.exists()
    assert [p.name for p in method_dir.iterdir()] == [run.name]


def test_only_stale_assembly_folders_are_removed(tmp_path):
    """A folder whose lock a live process holds, or a fresh one without a lock, is another run being assembled."""
    from zslbench.run_lock import RunLock

    parent = tmp_path / "runs" / "example-bars" / "pixel-attr"
    live, fresh, old, unlocked = (parent / f".20200101-00000{i}-s0-aaaaaa.x{i}.tmp" for i in range(4))
    for folder in (live, fresh, old, unlocked):
        folder.mkdir(parents=True)
        (folder / store.CONFIG_FILE).write_text("{}")
    (unlocked / ".lock").write_text("")  # a lock file nobody holds: its process died
    past = time.time() - 2 * store.STALE_STAGING_SECONDS
    os.utime(old, (past, past))
    victim = _victim(tmp_path)
    link = parent / ".20200101-000009-s0-aaaaaa.x9.tmp"
    os.symlink(victim.parent, link)
    with RunLock(live):
        removed = store.remove_stale_staging(parent)
    assert sorted(removed) == sorted([old, unlocked])
    assert live.exists() and fresh.exists() and not old.exists() and not unlocked.exists()
    assert link.is_symlink() and victim.read_text() == VICTIM_TEXT


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT])
def test_sighup_and_sigquit_are_handled_as_sigterm(example_plugin, tmp_path, signum):
    site = tmp_path / "subprocess-site"
    write_dist_info(site, "zslbench-example", "0.1.0", {"example": "zslbench_example.plugin"})
    proc = subprocess.Popen([sys.executable, "-m", "zslbench", "run", "pixel-attr", "-d", "example-bars",
                             "--epochs", "400", "--quiet"], env=_subprocess_env(tmp_path, site),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not list((tmp_path / "runs").glob(f"*/*/*/{store.CHECKPOINT_FILE}")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "zslbench run --resume" in errors[0], err
    status = json.loads((only_run(tmp_path / "runs") / store.STATUS_FILE).read_text())
    assert status["state"] == "interrupted" and "--resume" in status["hint"]
