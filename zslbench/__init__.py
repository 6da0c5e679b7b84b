"""zslbench: a pluggable zero-shot learning benchmark toolkit.

The Python API (the command line is a thin layer over it)::

    import zslbench

    result = zslbench.run("ale", dataset="synthetic-tiny", epochs=1)
    result.metrics["test"]["h"]              # a fraction in [0, 1]; result.test_percent()["h"] in percent
    zslbench.load_runs(method="ale")
    zslbench.load_results(percent=True)      # the rows compare shows, grouped as it groups them
    zslbench.evaluate_model(model, "synthetic-tiny", protocol="gbu")   # a model in memory, nothing stored
    zslbench.compare(["ale"]).rows()         # compare / report / ablate as data (the commands print them)

Importing zslbench is light: torch and the engine load when a function needs them.
"""

from zslbench.api import (Registered, Run, ablate, compare, evaluate, evaluate_model, get_dataset, get_method,
                          list_datasets, list_methods, load_dataset, load_results, load_runs, registered, report, run,
                          score)
from zslbench.hookspecs import hookimpl  # plugins write @zslbench.hookimpl
from zslbench.plugins import register  # in-process registration (notebooks, tests): zslbench.register(spec)
from zslbench.version import __version__

__all__ = ["Registered", "Run", "__version__", "ablate", "compare", "evaluate", "evaluate_model", "get_dataset",
           "get_method", "hookimpl", "list_datasets", "list_methods", "load_dataset", "load_results", "load_runs", "register", "registered",
           "report", "run", "score"]
