"""The Python front door: run, evaluate, load datasets and read stored runs from a notebook or script.

Everything here is what the ``zslbench`` command line does, as functions:
:func:`run` resolves the same config and writes the same run directory as
``zslbench run``; :func:`load_runs` reads the store that ``compare`` and
``report`` read. Heavy imports (torch, the training engine) happen inside the
functions, so ``import zslbench`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from zslbench.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from zslbench.config import RunConfig
    from zslbench.data.dataset import ZSLDataset
    from zslbench.methods import MethodSpec
    from zslbench.registry import DatasetSpec
    from zslbench.results.ablate import Ablation
    from zslbench.results.compare import Comparison
    from zslbench.results.report import ReportOutcome
    from zslbench.store import RunRecord

#: Keyword options of :func:`run` (the ``zslbench run`` flags) and where each goes in the config.
RUN_OPTIONS: dict[str, tuple[str, ...]] = {
    "seed": ("seed",), "protocol": ("protocol",), "backbone": ("backbone",), "pretrained": ("pretrained",),
    "out": ("out",), "tags": ("tags",), "epochs": ("train", "epochs"), "device": ("train", "device"),
    "data_root": ("data", "root"), "skip_bad_images": ("data", "skip_bad_images"), "loggers": ("loggers",),
}
#: Options that are lists (given as any sequence; empty means "not given").
_LIST_OPTIONS = ("tags", "loggers")


@dataclass
class Run:
    """A finished run: where it is stored, its resolved config and its metrics (as in ``metrics.json``)."""

    dir: Path
    config: "RunConfig"
    metrics: dict
    timings: dict = field(default_factory=dict)

    @property
    def test(self) -> dict:
        """The test metrics as stored: accuracies are fractions in [0, 1] (``compare`` shows percent)."""
        return self.metrics.get("test", {})

    def test_percent(self) -> dict:
        """The scalar test metrics in percent, as ``compare`` shows them (counts and tables left out)."""
        from zslbench.results.aggregation import score_keys

        return {k: 100.0 * float(self.test[k]) for k in score_keys(self.test)}


def option_layer(**options: Any) -> dict:
    """The config layer of :data:`RUN_OPTIONS` keyword options (None values are left out)."""
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise UsageError(f"unknown run option(s): {', '.join(unknown)}",
                         f"use one of {', '.join(RUN_OPTIONS)}, or set=['section.key=value', ...]")
    layer: dict = {}
    for name, value in options.items():
        if value is None or (name == "skip_bad_images" and not value) or (name in _LIST_OPTIONS and not value):
            continue
        *sections, key = RUN_OPTIONS[name]
        target = layer
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = list(dict.fromkeys(value)) if name in _LIST_OPTIONS else value
    return layer


def run(method: "str | MethodSpec | None" = None, dataset: "str | ZSLDataset | DatasetSpec | None" = None, *,
        config: str | Path | None = None, set: Sequence[str] = (), resume: str | Path | None = None,
        progress: bool = False, **options: Any) -> Run:
    """Train and evaluate ``method`` on ``dataset`` and store the run, exactly like ``zslbench run``.

    ``method`` and ``dataset`` are registered names, or objects: a
    ``MethodSpec``, a ``DatasetSpec`` or a ``ZSLDataset`` in memory (registered
    in this process under its own name, see :func:`zslbench.register`; a name
    that a plugin already uses is refused, so a stored run never carries a
    name that means other data or another method).
    ``config`` is a TOML file, ``set`` a list of ``"key=value"`` overrides
    (``"train.lr=1e-4"``, ``"method.m=40"``) and ``options`` the command's flags
    as keywords: ``seed``, ``protocol``, ``epochs``, ``device``, ``backbone``,
    ``pretrained``, ``data_root``, ``skip_bad_images``, ``out`` (run store root),
    ``tags`` and ``loggers`` (``["tensorboard", "wandb"]``). ``resume`` continues an interrupted run directory instead.
    """
    from zslbench.runner import execute_run, resolve_resume, resolve_run

    method, dataset = _register_objects(method, dataset)
    if resume is not None:
        resolved = resolve_resume(Path(resume))
    else:
        resolved = resolve_run(method, dataset, str(config) if config is not None else None, list(set),
                               option_layer(**options))
    outcome = execute_run(resolved, Path(resume) if resume is not None else None, progress=progress)
    return Run(outcome.run_dir, outcome.config, outcome.metrics, outcome.timings)


def _register_objects(method: Any, dataset: Any) -> tuple[str | None, str | None]:
    """Names for :func:`run`: spec and dataset objects are registered in this process first."""
    from zslbench import registry
    from zslbench.data.dataset import ZSLDataset
    from zslbench.plugins import register

    if dataset is not None and isinstance(dataset, ZSLDataset):
        dataset = _spec_of_dataset(dataset)
    for obj in (method, dataset):
        if obj is None or isinstance(obj, str):
            continue
        kind = "methods" if obj is method else "datasets"
        if not hasattr(obj, "name"):
            raise UsageError(f"run() takes a name or a spec object as the {kind[:-1]}, not a {type(obj).__name__}")
        known = registry.ALL[kind]
        if obj.name in known and known.entry(obj.name).origin.plugin != "in-process":
            raise UsageError(f"the {kind[:-1]} object {obj.name!r} has the name of a registered {kind[:-1]} "
                             f"({known.entry(obj.name).origin})", "give your object another name")
        register(obj, replace=True)
    names = tuple(x if x is None or isinstance(x, str) else x.name for x in (method, dataset))
    return names[0], names[1]


def _spec_of_dataset(dataset: "ZSLDataset") -> Any:
    """A DatasetSpec that serves an in-memory dataset (its image size read from array images)."""
    from zslbench.registry import DatasetSpec

    pixels = getattr(dataset.images, "pixels", None)
    size = int(pixels.shape[1]) if pixels is not None and getattr(pixels, "ndim", 0) == 4 else 224
    return DatasetSpec(name=dataset.name, load=lambda _options: dataset, task=dataset.task, needs_download=False,
                       default_image_size=size, description="in-memory dataset passed to zslbench.run")


def get_method(name: str) -> "MethodSpec":
    """The registered method ``name`` (an alias works too); an unknown name is a usage error naming close ones."""
    from zslbench import registry
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    return registry.methods.get(name)


def get_dataset(name: str) -> "DatasetSpec":
    """The registered dataset spec ``name``; :func:`load_dataset` loads the data itself."""
    from zslbench import registry
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    return registry.datasets.get(name)


def evaluate(scores: Any, labels: Any, seen_classes: Sequence[int], unseen_classes: Sequence[int] | None = None, *,
             gamma: float | None = None, top_k: Sequence[int] = (3, 5)) -> dict:
    """The zslbench metrics of test ``scores`` (N, C) over all classes, as stored in ``metrics.json["test"]``.

    Single-label (``labels`` of shape (N,), class ids): images of seen classes
    form test-seen, the others test-unseen; returns T1, U, S, H, AUSUC (and
    CS-U/S/H with a validation-chosen ``gamma``). Multi-label (``labels`` (N, C)
    of +1 / -1 / 0): returns ZSL and GZSL mAP and F1@K for ``top_k``.
    ``unseen_classes`` defaults to every class not in ``seen_classes``.
    """
    from zslbench.tasks import task_for_labels

    return task_for_labels(labels).evaluate_scores(scores, labels, seen_classes, unseen_classes,
                                                   gamma=gamma, top_k=top_k)


def score(predictions: str | Path, dataset: str, **options: Any) -> Any:
    """Score a prediction matrix saved by other code on ``dataset`` and store it as a run, like ``zslbench score``.

    Options are the command's flags as keywords (``name``, ``val``, ``data_root``,
    ``key``, ``val_key``, ``order``, ``row_ids``, ``columns``, ``labels``,
    ``val_row_ids``, ``val_seed``, ``trust_order``, ``out``, ``tags``). Returns a
    :class:`zslbench.scoring.score.ScoredRun` (``dir``, ``config``, ``metrics``,
    ``test``). See docs/scoring.md for the row and column conventions.
    """
    from zslbench.scoring.score import score as score_predictions

    return score_predictions(predictions, dataset, **options)


def load_dataset(name: str, root: str | Path | None = None, **data_options: Any) -> "ZSLDataset":
    """Load and validate the registered dataset ``name`` (``root``: its copy; ``data_options``: ``data.*`` keys)."""
    from zslbench import registry
    from zslbench.config import DataConfig, build_dataclass
    from zslbench.errors import DataError
    from zslbench.plugins import ensure_loaded

    ensure_loaded()
    spec = registry.datasets.get(name)
    values = {**data_options, "root": str(root) if root is not None else None}
    dataset = spec.load(build_dataclass(DataConfig, values, prefix="data."))
    try:
        dataset.validate()
    except ValueError as exc:
        raise DataError(str(exc), f"run `zslbench data check {spec.name}`") from None
    return dataset


#: What :func:`registered` lists (the ``zslbench list`` kinds other than ``plugins``).
REGISTRY_KINDS = ("methods", "datasets", "backbones", "text-encoders")


@dataclass(frozen=True)
class Registered:
    """One registered method, dataset, backbone or text encoder: what ``zslbench list`` shows of it."""

    kind: str  # one of REGISTRY_KINDS
    name: str
    description: str
    origin: str  # the distribution (or plugin) that registered it, with its version
    aliases: tuple[str, ...] = ()
    variant_of: str | None = None  # methods: the method this one is a configuration of
    tasks: tuple[str, ...] = ()  # methods: the tasks they run; datasets: their task
    method_kind: str | None = None  # methods: "image" (trained end to end) | "feature" (fit on cached features) | "training-free"
    semantic: bool = True  # datasets: False when the classes have no semantic vectors


def registered(kind: str) -> list[Registered]:
    """The registered entries of ``kind`` (built-in plugins and installed ones), in registration order."""
    from zslbench import registry
    from zslbench.plugins import ensure_loaded

    if kind not in REGISTRY_KINDS:
        raise UsageError(f"unknown registry kind {kind!r}", f"choose one of {', '.join(REGISTRY_KINDS)}")
    ensure_loaded()
    return [_registered(kind, entry) for entry in registry.ALL[kind]]


def _registered(kind: str, entry: Any) -> Registered:
    spec = entry.spec
    task = getattr(spec, "task", None)
    tasks = tuple(getattr(spec, "tasks", ())) if kind == "methods" else ((task,) if task else ())
    origin = f"{entry.origin.distribution or entry.origin.plugin} {entry.origin.version or ''}".strip()
    return Registered(kind=kind, name=entry.name, description=getattr(spec, "description", ""), origin=origin,
                      aliases=tuple(entry.aliases), variant_of=getattr(spec, "variant_of", None), tasks=tasks,
                      method_kind=getattr(spec, "kind", "image") if kind == "methods" else None,
                      semantic=getattr(spec, "semantic", True) is not False)


def list_methods(task: str | None = None, kind: str | None = None) -> list[str]:
    """Names of the registered methods, optionally only those for ``task`` (e.g. ``"multi-label"``) or of ``kind``."""
    return [entry.name for entry in registered("methods")
            if (task is None or task in entry.tasks) and (kind is None or entry.method_kind == kind)]


def list_datasets(task: str | None = None) -> list[str]:
    """Names of the registered datasets, optionally only those of ``task``."""
    return [entry.name for entry in registered("datasets") if task is None or task in entry.tasks]


def load_runs(root: str | Path | None = None, method: str | None = None, dataset: str | None = None,
              complete: bool = True) -> list["RunRecord"]:
    """Stored runs under ``root`` (default ``$ZSLBENCH_RUNS`` or ``./runs``), oldest first.

    ``method`` / ``dataset`` keep only runs of that method / dataset; with
    ``complete`` (the default) only finished runs holding test metrics, the
    runs ``compare`` could use. Unreadable or malformed directories are passed
    over with one ``RuntimeWarning`` each. Metrics are as stored: accuracies are
    fractions in [0, 1]. For the rows ``compare`` shows (grouped, mean ± std,
    optionally in percent) use :func:`load_results`.
    """
    import warnings

    from zslbench.results.selection import unusable_reason
    from zslbench.store import scan_runs

    records, unreadable = scan_runs(_store_roots(root)[0], dataset=dataset, method=method)
    for path, reason in unreadable:  # one line each, naming the run and what is wrong (see zslbench.stored_files)
        warnings.warn(f"skipped {path}: {reason}", RuntimeWarning, stacklevel=2)
    if complete:
        records = [r for r in records if unusable_reason(r) is None]
    return records


def load_results(root: str | Path | None = None, methods: Sequence[str] = (), datasets: Sequence[str] = (), *,
                 tags: Sequence[str] = (), where: Sequence[str] = (), group_by: Sequence[str] = (),
                 latest: bool = True, percent: bool = False) -> list[dict]:
    """The rows ``compare`` and ``report`` show: one dict per group of comparable runs.

    Runs are grouped by method, dataset, protocol and every setting except
    seed, tags and paths, exactly as ``compare`` groups them (``where``:
    ``["train.lr=1e-4"]``; ``group_by``: split by these settings only;
    ``latest``: one run per seed within a group). Each row: ``label``,
    ``method``, ``dataset``, ``protocols``, ``settings``, ``n``, ``seeds``,
    ``run_ids`` and ``metrics`` ``{key: {"mean", "std", "n"}}`` in fractions,
    or in percent with ``percent=True`` (as ``compare`` shows single-label
    accuracies; the sample std has ddof=1).
    """
    from zslbench.results.compare import group_row
    from zslbench.results.selection import select_runs

    selection = select_runs(_store_roots(root)[0], list(methods) or None,
                            list(datasets) or None, tags=tags, where=where, group_by=group_by, latest=latest)
    return [group_row(g, percent) for g in selection.groups()]


def _store_roots(root: str | Path | None) -> tuple[Path, Path | None]:
    """(the run store root: ``root``, else ``$ZSLBENCH_RUNS`` or ``./runs``; ``root`` as given, or None)."""
    from zslbench.paths import runs_dir

    return runs_dir(str(root) if root is not None else None), Path(root) if root is not None else None


def compare(methods: Sequence[str] = (), datasets: Sequence[str] = (), *, root: str | Path | None = None,
            run_ids: Sequence[str] = (), tags: Sequence[str] = (), where: Sequence[str] = (),
            group_by: Sequence[str] = (), latest: bool = True, metrics: Sequence[str] = (), oracle: bool = False,
            published: bool = False, run_missing: bool = False, set_items: Sequence[str] = (),
            jobs: int = 1) -> "Comparison":
    """``zslbench compare`` as data: the tables, their rows and the notes the command prints.

    Same options as the command (``root`` is ``--runs``, default ``$ZSLBENCH_RUNS`` or ``./runs``).
    Returns a :class:`~zslbench.results.compare.Comparison`: ``.tables`` (one per dataset, each with its
    ``.notes``), ``.rows(percent=...)`` (the rows as dicts, as :func:`load_results`), ``.groups``,
    ``.warnings`` (what the command prints to stderr) and ``.render(fmt)`` (what it prints).
    :class:`~zslbench.results.NoRunsError` when no run matches.
    """
    from zslbench.results.compare import compare_runs

    store_root, explicit_root = _store_roots(root)
    return compare_runs(store_root, methods, datasets, run_ids, tags, oracle, metrics, explicit_root, published,
                        where, group_by, latest, run_missing, set_items, jobs)


def report(out: str | Path, methods: Sequence[str] = (), datasets: Sequence[str] = (), *,
           root: str | Path | None = None, run_ids: Sequence[str] = (), tags: Sequence[str] = (),
           oracle: bool = False, where: Sequence[str] = (), group_by: Sequence[str] = (),
           latest: bool = True) -> "ReportOutcome":
    """``zslbench report`` as data: writes ``out/README.md`` and its figures, returns what it wrote.

    A :class:`~zslbench.results.report.ReportOutcome`: ``.path`` (the README), ``.pictures`` (figure paths),
    ``.figures`` (what each figure drew), ``.runs`` and ``.skipped`` (run directories passed over).
    """
    from zslbench.results.report import write_report

    store_root, explicit_root = _store_roots(root)
    return write_report(store_root, Path(out), methods, datasets, run_ids, tags, oracle, explicit_root, where,
                        group_by, latest)


def ablate(method: str, datasets: Sequence[str], *, seeds: Sequence[int] = (0,), root: str | Path | None = None,
           run: bool = True, set_items: Sequence[str] = (), jobs: int = 1) -> "Ablation":
    """``zslbench ablate`` as data: METHOD, its registered variants and its baseline, reused or trained.

    ``run=False`` is ``--no-run`` (only stored runs). Returns an :class:`~zslbench.results.ablate.Ablation`:
    ``.table`` (its ``.notes`` name missing runs), ``.runs``, ``.plan`` (reused / trained / missing),
    ``.warnings`` and ``.render(fmt)``.
    """
    from zslbench.results.ablate import run_ablation

    store_root, explicit_root = _store_roots(root)
    return run_ablation(method, datasets, list(seeds), store_root, set_items, run=run, jobs=jobs,
                        explicit_root=explicit_root)


def evaluate_model(model: Any, dataset: "str | ZSLDataset", protocol: str = "standard", *, seed: int = 0,
                   device: str = "cpu", backbone: str | None = None, data_root: str | Path | None = None,
                   set: Sequence[str] = ()) -> dict:
    """Evaluate a model already in memory on ``dataset``'s test splits; writes no run directory.

    ``model``: an :class:`~zslbench.image_model.ImageZSLModel`, or any object
    with ``class_scores(images, class_attributes)`` returning (N, C) scores.
    ``dataset``: a registered name or a ``ZSLDataset``. It is scored as a run of
    a training-free method scores it (same image transforms, same task
    evaluation): ``protocol="gbu"`` first scores the validation benchmark
    derived from trainval with ``seed`` (:func:`zslbench.data.dataset.validation_split`)
    to choose the calibration gamma. ``backbone`` names the image normalisation
    the model expects (``data.normalize = "auto"``); ``set`` takes ``"key=value"``
    overrides of the run config (``"data.image_size=64"``, ``"train.eval_batch_size=32"``).
    Returns the metrics a run stores: ``test`` (fractions), ``curve``,
    ``validation`` under gbu, ``counts``, ``protocol``, ``task``.
    """
    from zslbench.data.dataset import ZSLDataset
    from zslbench.model_evaluation import evaluate_in_memory

    dataset_spec = _spec_of_dataset(dataset) if isinstance(dataset, ZSLDataset) else get_dataset(dataset)
    layer = option_layer(seed=seed, device=device, backbone=backbone,
                         data_root=str(data_root) if data_root is not None else None)
    return evaluate_in_memory(model, dataset_spec, protocol, list(set), layer)
