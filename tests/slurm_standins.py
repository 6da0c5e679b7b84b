"""Stand-ins for Slurm's sbatch, srun, squeue, sacct, scancel and scontrol that run the jobs on this machine.

``install(bin_dir, state_dir)`` writes them into ``bin_dir`` (put it first on
PATH). They keep their state in ``state_dir``:

* ``sbatch SCRIPT`` copies the script to ``job-<id>.sh`` (for the test to read),
  prints ``Submitted batch job <id>`` and starts a detached runner that executes
  each array task (``#SBATCH --array=0-N%P``, at most P at a time) with the
  SLURM_* variables a real task sees; task states go to ``state/<id>_<task>``.
* ``srun [--output F] [--error F] ... CMD`` runs CMD with its output in F
  (``%A %a %j %t`` expanded).
* ``sacct -j ID ...`` prints ``JobID|State|NodeList`` lines from the state files.
* ``scancel ID [--signal SIG]`` signals a running task's step (srun forwards it), or cancels a pending one.
* ``scontrol requeue ID`` marks a task to be run again when its process ends.
"""

from __future__ import annotations

import sys
from pathlib import Path

_COMMON = r'''
import os, re, signal, subprocess, sys, json, time
from pathlib import Path
STATE = Path(os.environ["FAKE_SLURM_DIR"])
(STATE / "state").mkdir(parents=True, exist_ok=True)
def set_state(task_id, state):
    (STATE / "state" / task_id).write_text(state)
'''

_SBATCH = r'''
script = Path(sys.argv[-1])
text = script.read_text()
counter = STATE / "next_id"
job_id = int(counter.read_text()) if counter.exists() else 1000
counter.write_text(str(job_id + 1))
(STATE / f"job-{job_id}.sh").write_text(text)
match = re.search(r"^#SBATCH --array=(\d+)-(\d+)(?:%(\d+))?$", text, re.M)
tasks = list(range(int(match[1]), int(match[2]) + 1)) if match else [None]
parallel = int(match[3]) if match and match[3] else len(tasks)
for task in tasks:
    set_state(f"{job_id}_{task}" if task is not None else str(job_id), "PENDING")
print(f"Submitted batch job {job_id}", flush=True)
runner = Path(__file__).with_name("fake_slurm_runner")
subprocess.Popen([sys.executable, str(runner), str(job_id), str(script), json.dumps(tasks), str(parallel)],
                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=open(STATE / f"runner-{job_id}.err", "w"))
'''

_RUNNER = r'''
from concurrent.futures import ThreadPoolExecutor
job_id, script, tasks, parallel = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])

def run_task(task):
    task_id = f"{job_id}_{task}" if task is not None else job_id
    env = dict(os.environ, SLURM_JOB_ID=str(int(job_id) * 100 + (task or 0)), SLURM_NTASKS="1",
               SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0", SLURM_PROCID="0", SLURM_LOCALID="0",
               SLURM_JOB_NODELIST="localhost")
    if task is not None:
        env.update(SLURM_ARRAY_JOB_ID=job_id, SLURM_ARRAY_TASK_ID=str(task))
    else:
        env["SLURM_JOB_ID"] = job_id
    while True:
        set_state(task_id, "RUNNING")
        code = subprocess.call(["bash", script], env=env, start_new_session=True)
        marker = STATE / "state" / f"{task_id}.requeue"
        if marker.exists():
            marker.unlink()
            (STATE / "state" / f"{task_id}.requeued").write_text("1")
            continue
        set_state(task_id, "COMPLETED" if code == 0 else "FAILED")
        return

with ThreadPoolExecutor(max_workers=parallel) as pool:
    list(pool.map(run_task, tasks))
'''

_SRUN = r'''
args = sys.argv[1:]
outputs = {}
while args and args[0].startswith("-"):
    flag = args.pop(0)
    if flag in ("--output", "--error"):
        outputs[flag] = args.pop(0)
def expand(path):
    e = os.environ
    return (path.replace("%A", e.get("SLURM_ARRAY_JOB_ID", "")).replace("%a", e.get("SLURM_ARRAY_TASK_ID", ""))
            .replace("%j", e["SLURM_JOB_ID"]).replace("%t", "0"))
out = open(expand(outputs["--output"]), "a") if "--output" in outputs else None
err = open(expand(outputs["--error"]), "a") if "--error" in outputs else None
process = subprocess.Popen(args, stdout=out, stderr=err)
task = os.environ.get("SLURM_ARRAY_TASK_ID")
task_id = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{task}" if task is not None else os.environ["SLURM_JOB_ID"]
(STATE / "state" / f"{task_id}.pid").write_text(str(os.getpid()))  # scancel --signal reaches the step via srun
for sig in (signal.SIGUSR2, signal.SIGTERM):
    signal.signal(sig, lambda s, f: process.send_signal(s))
sys.exit(process.wait())
'''

_SACCT = r'''
args = sys.argv[1:]
wanted = [args[i + 1] for i, a in enumerate(args) if a == "-j"]
print("JobID|State|NodeList")
for path in sorted((STATE / "state").iterdir()):
    if "." in path.name:
        continue
    if any(path.name == w or path.name.startswith(w + "_") for w in wanted):
        print(f"{path.name}|{path.read_text()}|localhost")
'''

_SQUEUE = r'''
print("JOBID PARTITION NAME USER ST TIME NODES NODELIST(REASON)")
'''

_SCANCEL = r'''
args = sys.argv[1:]
sig = args[args.index("--signal") + 1] if "--signal" in args else None
for job in [a for a in args if re.fullmatch(r"\d+(_\d+)?", a)]:
    state = STATE / "state" / job
    pid_file = STATE / "state" / f"{job}.pid"
    if sig and pid_file.exists():
        os.kill(int(pid_file.read_text()), getattr(signal, sig if sig.startswith("SIG") else "SIG" + sig))
    elif state.exists() and state.read_text() == "PENDING":
        state.write_text("CANCELLED")
'''

_SCONTROL = r'''
if sys.argv[1:2] == ["requeue"]:
    job = sys.argv[2]
    (STATE / "state" / f"{job}.requeue").write_text("1")
'''

SCRIPTS = {"sbatch": _SBATCH, "fake_slurm_runner": _RUNNER, "srun": _SRUN, "sacct": _SACCT, "squeue": _SQUEUE,
           "scancel": _SCANCEL, "scontrol": _SCONTROL}


def install(bin_dir: Path, state_dir: Path) -> None:
    """Write the stand-ins into ``bin_dir`` (executable, run by this Python)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    for name, body in SCRIPTS.items():
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{_COMMON}{body}")
        path.chmod(0o755)
