"""Many runs at once: a sweep file expanded into ``zslbench run`` commands and carried out by an executor.

* :mod:`zslbench.sweep.spec`     the sweep file (methods x datasets x seeds x ``--set`` grid) and its
                                 expansion into :class:`~zslbench.sweep.spec.RunSpec` s, one per run;
* :mod:`zslbench.sweep.state`    what the run store already holds for each run (complete, interrupted,
                                 nothing) and the sweep's own record (jobs, logs) under ``<runs>/.sweeps/``;
* :mod:`zslbench.sweep.engine`   planning (skip / resume / start) and carrying a plan out with an executor,
                                 with progress, collecting failures without stopping the other runs;
* :mod:`zslbench.sweep.local`    executors on this machine: in-process (serial) and a subprocess pool
                                 (one ``zslbench run`` per job, one GPU or a thread budget each);
* :mod:`zslbench.sweep.slurm`    the Slurm executor through submitit (job arrays, requeue + ``--resume``);
* :mod:`zslbench.sweep.cli`      ``zslbench sweep SWEEP.toml`` and ``zslbench sweep status SWEEP.toml``.

Every run is stored exactly as ``zslbench run`` stores it; a run is recognised
again by its ``run-key:<hash>`` tag (a hash of method, dataset, seed, protocol
and overrides), so re-running a sweep skips complete runs and resumes
interrupted ones. Nothing here imports torch: the runs do, in their own processes.
"""
