"""``zslbench sweep``: grid expansion, the local executor, the Slurm executor (stand-in Slurm), status, re-runs."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from zslbench import store
from zslbench.cli import main
from zslbench.errors import UsageError
from zslbench.sweep import slurm as sweep_slurm
from zslbench.sweep.engine import job_for
from zslbench.sweep.local import Slot, device_slots
from zslbench.sweep.spec import RunSpec, load_sweep, parse_slurm_time, resume_argv
from zslbench.sweep.state import find_run, sweep_dir

import slurm_standins

TINY = """
name = "tiny"
methods = ["baseline"]
datasets = ["synthetic-tiny"]
seeds = [0, 1]
out = "runs"

[set]
"train.epochs" = 1

[grid]
"method.sigma" = [5.0, 10.0]
"""


def invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, input=input)


def write_sweep(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def metrics_by_run(root: Path) -> dict:
    """``{(seed, sigma): metrics["test"]}`` of the complete runs under ``root``."""
    records, bad = store.scan_runs(root)
    assert not bad
    return {(r.seed, r.config["method_options"]["sigma"]): r.metrics["test"] for r in records if r.complete}


# --------------------------------------------------------------------------- the sweep file


def test_grid_expands_into_run_commands(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, TINY.replace('methods = ["baseline"]', 'methods = ["baseline", "svip"]')))
    runs = sweep.expand()
    assert len(runs) == 2 * 2 * 2  # methods x seeds x sigma
    assert len({r.key for r in runs}) == len(runs)
    first = runs[0]
    assert first.argv() == ["zslbench", "run", "baseline", "--dataset", "synthetic-tiny", "--seed", "0",
                            "--set", "train.epochs=1", "--set", "method.sigma=5.0", "--out", str(tmp_path / "runs"),
                            "--tag", f"run-key:{first.key}", "--quiet"]
    # the key is what the run computes: not its tags or where it is stored
    assert RunSpec("baseline", "synthetic-tiny", 0, first.sets, out="/elsewhere", tags=("x",)).key == first.key
    assert RunSpec("baseline", "synthetic-tiny", 1, first.sets).key != first.key


@pytest.mark.parametrize("text, message", [
    ('methods = []\ndatasets = ["synthetic-tiny"]', "`methods` must be a non-empty list"),
    ('methods = ["baseline"]\ndatasets = ["synthetic-tiny"]\nseed = 1', "unknown key(s) seed"),
    ('methods = ["baseline"]\ndatasets = ["synthetic-tiny"]\n[grid]\n"train.lr" = []', "non-empty list of values"),
    ('methods = ["baseline"]\ndatasets = ["synthetic-tiny"]\n[slurm]\ngpus = 1', "unknown config key 'slurm.gpus'"),
])
def test_bad_sweep_files_are_usage_errors(tmp_path, text, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        load_sweep(write_sweep(tmp_path, text))


def test_unknown_method_stops_before_anything_runs(tmp_path):
    path = write_sweep(tmp_path, TINY.replace('"baseline"', '"basline"'))
    result = invoke("sweep", path)
    assert result.exit_code == 2 and "unknown method 'basline'" in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("text, minutes", [(90, 90), ("90", 90), ("04:00:00", 240), ("1-00:30:00", 1470),
                                           ("30:00", 30), ("00:00:30", 1)])
def test_slurm_time_limits(text, minutes):
    assert parse_slurm_time(text) == minutes


# --------------------------------------------------------------------------- local executor


def test_device_slots_one_gpu_each_or_a_share_of_the_cores():
    gpu = device_slots(4, ["0", "1"], cpu_count=8)
    assert [slot.gpus for slot in gpu] == [("0",), ("1",), ("0",), ("1",)]  # round-robin over the GPUs
    assert device_slots(2, [], cpu_count=8) == [Slot((), 4), Slot((), 4)]
    assert device_slots(3, [], threads_per_job=1)[0].threads == 1
    env = Slot(("3",), 2).environment({"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == "3" and env["OMP_NUM_THREADS"] == "2" and env["PATH"] == "/bin"
    assert "CUDA_VISIBLE_DEVICES" not in Slot((), 1).environment({})


@pytest.mark.slow
def test_local_sweep_stores_what_runs_by_hand_store_and_reruns_submit_nothing(tmp_path):
    import torch

    path = write_sweep(tmp_path, TINY)
    result = invoke("sweep", path, "--jobs", "2", "--threads-per-job", "1")
    assert result.exit_code == 0, result.output
    assert "4 runs: 0 complete (skipped), 0 to resume, 4 to start" in result.output
    assert len(re.findall(r"\[\d/4\] done baseline on synthetic-tiny", result.output)) == 4  # not a terminal
    swept = metrics_by_run(tmp_path / "runs")
    assert len(swept) == 4

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each job of the sweep ran
    try:
        for run in load_sweep(path).expand():
            by_hand = ["run", run.method, "--dataset", run.dataset, "--seed", run.seed,
                       *[a for item in run.sets for a in ("--set", item)], "--out", tmp_path / "by-hand", "--quiet"]
            assert invoke(*by_hand).exit_code == 0
    finally:
        torch.set_num_threads(threads)
    assert metrics_by_run(tmp_path / "by-hand") == swept

    again = invoke("sweep", path, "--jobs", "2")
    assert again.exit_code == 0
    assert "4 runs: 4 complete (skipped), 0 to resume, 0 to start" in again.output
    assert len(metrics_by_run(tmp_path / "runs")) == 4 and len(store.scan_runs(tmp_path / "runs")[0]) == 4
    status = invoke("sweep", "status", path)
    assert status.exit_code == 0 and "4 done, 0 running, 0 queued, 0 interrupted, 0 failed, 0 not started" in status.output
    log = next((sweep_dir(tmp_path / "runs", "tiny") / "logs").glob("*.log")).read_text()
    assert log.startswith("$ zslbench run baseline --dataset synthetic-tiny --seed ")


@pytest.mark.slow
def test_one_failing_run_stops_no_other_and_is_named(tmp_path):
    path = write_sweep(tmp_path, TINY.replace("seeds = [0, 1]", "seeds = [0]").replace("[5.0, 10.0]", "[5.0, -1.0]"))
    result = invoke("sweep", path, "--jobs", "2")
    assert result.exit_code == 1
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("Error: 1 of 2 runs failed: baseline on synthetic-tiny, seed 0, train.epochs=1, "
                            "method.sigma=-1.0 (exit 2: Error: method.sigma must be positive")
    assert list(metrics_by_run(tmp_path / "runs")) == [(0, 5.0)]
    status = invoke("sweep", "status", path)
    assert "1 done, 0 running, 0 queued, 0 interrupted, 1 failed, 0 not started" in status.output


def test_interrupted_runs_are_resumed_and_complete_ones_skipped(tmp_path):
    spec = RunSpec("baseline", "synthetic-tiny", 0, ("train.epochs=1",), out=str(tmp_path / "runs"))
    assert job_for(spec, tmp_path / "runs").argv == tuple(spec.argv())
    assert invoke(*spec.argv()[1:]).exit_code == 0
    assert job_for(spec, tmp_path / "runs") is None
    run_dir = find_run(spec, tmp_path / "runs").run_dir
    store.write_status(run_dir, "interrupted")
    job = job_for(spec, tmp_path / "runs")
    assert job.argv == tuple(resume_argv(run_dir)) and job.resume_dir == run_dir


# --------------------------------------------------------------------------- Slurm executor (stand-in Slurm)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sbatch, srun, sacct, squeue, scancel and scontrol stand-ins on PATH; their state directory."""
    pytest.importorskip("submitit")
    state = tmp_path / "slurm-state"
    slurm_standins.install(tmp_path / "bin", state)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    monkeypatch.setattr(sweep_slurm.SlurmExecutor, "POLL_SECONDS", 0.5)
    sweep_slurm.submitit.SlurmJob.watcher.clear()
    return state


SLURM = TINY.replace('"method.sigma" = [5.0, 10.0]', '"method.sigma" = [5.0]') + """
[slurm]
partition = "gpu"
cpus_per_task = 1
time = "00:30:00"
mem = "2G"
account = "lab"
sbatch = ["--qos=high"]
"""


@pytest.mark.slow
def test_slurm_array_job_script_commands_and_rerun(tmp_path, fake_slurm):
    path = write_sweep(tmp_path, SLURM)
    result = invoke("sweep", path, "--executor", "slurm", "--gpus-per-job", "1", "--max-parallel", "2", "--wait")
    assert result.exit_code == 0, result.output
    script = (fake_slurm / "job-1000.sh").read_text()
    for line in ("#SBATCH --array=0-1%2", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=1", "#SBATCH --time=30", "#SBATCH --mem=2G", "#SBATCH --account=lab",
                 "#SBATCH --qos=high", "#SBATCH --job-name=zslbench-tiny"):
        assert line in script.splitlines(), line
    folder = sweep_dir(tmp_path / "runs", "tiny") / "slurm"
    assert f"#SBATCH --output={folder}/%A_%a/%A_%a_0_log.out" in script.splitlines()  # beside the runs
    for task, run in enumerate(load_sweep(path).expand()):
        log = (folder / f"1000_{task}" / f"1000_{task}_0_log.out").read_text()
        expected = " ".join(dataclasses.replace(run, tags=("sweep:tiny",)).argv())  # the sweep tags its runs
        assert f"zslbench sweep task: {expected}" in log
    assert sorted(metrics_by_run(tmp_path / "runs")) == [(0, 5.0), (1, 5.0)]

    again = invoke("sweep", path, "--executor", "slurm")
    assert again.exit_code == 0 and "2 complete (skipped)" in again.output
    assert not (fake_slurm / "job-1001.sh").exists()  # nothing submitted
    status = invoke("sweep", "status", path)
    assert "2 done, 0 running, 0 queued" in status.output


@pytest.mark.slow
def test_slurm_preempted_job_requeues_and_resumes_its_run(tmp_path, fake_slurm):
    path = write_sweep(tmp_path, SLURM.replace("seeds = [0, 1]", "seeds = [0]").replace(
        '"train.epochs" = 1', '"train.epochs" = 80'))
    result = invoke("sweep", path, "--executor", "slurm")  # submit and return
    assert result.exit_code == 0 and "submitted 1 runs to Slurm" in result.output
    (run,) = load_sweep(path).expand()
    deadline = time.time() + 240
    while not (find_run(run, tmp_path / "runs").run_dir and
               (find_run(run, tmp_path / "runs").run_dir / store.CHECKPOINT_FILE).exists()):
        assert time.time() < deadline, "the job never started training"
        time.sleep(0.5)
    run_dir = find_run(run, tmp_path / "runs").run_dir
    subprocess.check_call(["scancel", "1000", "--signal", "USR2"])  # what Slurm sends before a preemption
    while (fake_slurm / "state" / "1000").read_text() != "COMPLETED":
        assert time.time() < deadline, "the requeued job did not complete"
        time.sleep(0.5)
    assert (fake_slurm / "state" / "1000.requeued").exists()
    assert find_run(run, tmp_path / "runs").run_dir == run_dir and store.read_run(run_dir).complete
    log = (sweep_dir(tmp_path / "runs", "tiny") / "slurm" / "1000" / "1000_0_log.out").read_text()
    assert f"zslbench sweep task: zslbench run --resume {run_dir} --quiet" in log
    assert len(store.read_run(run_dir).metrics["history"]) == 80


def test_slurm_without_submitit_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_slurm, "submitit", None)
    result = invoke("sweep", write_sweep(tmp_path, TINY), "--executor", "slurm")
    assert result.exit_code == 2 and "pip install 'zslbench[slurm]'" in result.output


def test_status_reads_slurm_states_and_the_sweep_record(tmp_path):
    from zslbench.sweep.cli import run_state
    from zslbench.sweep.state import JobRecord, SweepRecord

    spec = RunSpec("baseline", "synthetic-tiny", 0, out=str(tmp_path / "runs"))
    record = SweepRecord.load(tmp_path / "runs", "s")
    record.update(spec.key, JobRecord(spec.label(), "zslbench run ...", "slurm", "queued", job_id="5_0", log="x.out"))
    assert run_state(spec, tmp_path / "runs", record, {"5_0": "PENDING"})[0] == "queued"
    assert run_state(spec, tmp_path / "runs", record, {"5_0": "RUNNING"})[0] == "running"
    assert run_state(spec, tmp_path / "runs", record, {"5_0": "CANCELLED by 1000"}) == (
        "failed", "Slurm job 5_0 CANCELLED (log: x.out)")
    assert run_state(spec, tmp_path / "runs", record, {"5_0": "UNKNOWN"})[0] == "queued"  # the record's word
    assert SweepRecord.load(tmp_path / "runs", "s").jobs[spec.key].job_id == "5_0"  # state.json round trip
    assert run_state(spec, tmp_path / "runs", SweepRecord.load(tmp_path / "runs", "other"), {}) == ("not started", "")


def test_progress_counts_on_a_terminal_and_plain_lines_elsewhere():
    import io

    from zslbench.sweep.progress import SweepProgress

    plain = io.StringIO()
    with SweepProgress("sweep s", 2, stream=plain, interactive=False) as progress:
        progress.started("a")
        progress.started("b")
        assert progress.counts.text() == "0 done, 2 running, 0 queued, 0 failed"
        progress.finished("a", "run a", True, Path("/runs/a"))
        progress.finished("b", "run b", False, error="exit 2: Error: bad", log=Path("/logs/b.log"))
    lines = plain.getvalue().splitlines()
    assert lines[0].startswith("[1/2] done run a (") and lines[0].endswith("s): /runs/a")
    assert lines[1] == "[2/2] FAILED run b: exit 2: Error: bad (log: /logs/b.log)"

    terminal = io.StringIO()
    with SweepProgress("sweep s", 1, stream=terminal, interactive=True) as progress:
        progress.started("a")
        progress.finished("a", "run a", True, Path("/runs/a"))
    assert "sweep s: 1 done, 0 running, 0 queued, 0 failed" in terminal.getvalue()
