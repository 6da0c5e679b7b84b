"""The plugin system: entry points, broken plugins, duplicates, unknown names."""

import pytest

from zslbench import registry
from zslbench.errors import UnknownNameError, UsageError
from zslbench.plugins import PluginLoadError, installed_plugins, load_plugins, version_report
from zslbench.registry import Origin, Registry, DuplicateNameError

from conftest import write_dist_info


def test_core_registers_datasets_backbones_and_text_encoders():
    infos = load_plugins(force=True)
    assert infos[0].name == "core" and infos[0].error is None
    assert "synthetic" in registry.datasets and "synthetic-tiny" in registry.datasets
    assert "awa2" in registry.datasets and "cub" in registry.datasets and "sun" in registry.datasets
    assert "hashing" in registry.text_encoders
    assert registry.datasets.entry("synthetic").origin.distribution == "zslbench"


def test_third_party_plugin_registers_with_its_origin(example_plugin):
    entry = registry.methods.entry("pixel-attr")
    assert entry.origin == Origin("example", "zslbench-example", "0.1.0")
    assert registry.datasets.entry("example-bars").origin.distribution == "zslbench-example"


def test_version_report_lists_plugins_from_metadata_without_importing_them(tmp_path, monkeypatch):
    import zslbench

    site = tmp_path / "site"
    write_dist_info(site, "zslbench-unimportable", "2.3.4", {"unimportable": "zslbench_does_not_exist.plugin"})
    monkeypatch.syspath_prepend(str(site))
    lines = version_report().splitlines()
    assert lines[0] == f"zslbench {zslbench.__version__}"
    assert "  plugin unimportable: zslbench-unimportable 2.3.4" in lines
    assert [p.name for p in installed_plugins()][0] == "core"


def test_broken_plugin_warns_once_and_others_keep_working(tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_dist_info(site, "zslbench-broken", "9.9", {"broken": "zslbench_does_not_exist.plugin"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.warns(RuntimeWarning, match="zslbench-broken.*failed to load") as caught:
        infos = load_plugins(force=True)
    assert len([w for w in caught if "zslbench-broken" in str(w.message)]) == 1
    assert any(i.name == "broken" and i.error for i in infos)
    assert "synthetic" in registry.datasets
    monkeypatch.setenv("ZSLBENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="zslbench-broken"):
        load_plugins(force=True)
    monkeypatch.undo()
    load_plugins(force=True)


def test_duplicate_name_names_both_origins():
    reg = Registry("method")
    reg.add("svip", object(), Origin("svip", "zslbench-svip", "0.1.0"))
    with pytest.raises(DuplicateNameError) as info:
        reg.add("svip", object(), Origin("other", "someone-else", "1.0"))
    assert "zslbench-svip" in str(info.value) and "someone-else" in str(info.value)


def test_duplicate_through_an_alias_is_caught():
    reg = Registry("method")
    reg.add("baseline", object(), Origin("a"), aliases=("vit-attr-head",))
    with pytest.raises(DuplicateNameError):
        reg.add("vit-attr-head", object(), Origin("b"))


def test_unknown_name_lists_closest():
    load_plugins(force=True)
    with pytest.raises(UnknownNameError) as info:
        registry.datasets.get("synthetc")
    assert "synthetic" in str(info.value) and "zslbench list datasets" in str(info.value)


def test_alias_resolves_to_canonical_name():
    reg = Registry("method")
    reg.add("baseline", "spec", Origin("a"), aliases=("vit-attr-head",))
    assert reg.get("vit-attr-head") == "spec" and reg.canonical("vit-attr-head") == "baseline"


# ----------------------------------------------------------------------------- open extension points


def test_a_plugin_adds_a_cli_command_through_its_hook(example_plugin):
    from click.testing import CliRunner

    from zslbench.cli import main

    assert "example-bars-summary" in CliRunner().invoke(main, ["--help"]).output
    result = CliRunner().invoke(main, ["example-bars-summary"])
    assert result.exit_code == 0, result.output
    assert "example-bars: 12 classes (9 seen, 3 unseen); trainval 144, test_seen 36, test_unseen 60" in result.output


def _tiny_dataset_spec(name: str):
    from zslbench.registry import DatasetSpec

    return DatasetSpec(name=name, load=lambda cfg: None, needs_download=False, description="in-process test dataset")


def test_in_process_registration_survives_reloading_the_plugins(forget_in_process):
    import zslbench
    from zslbench import registry
    from zslbench.plugins import load_plugins

    zslbench.register(_tiny_dataset_spec("notebook-data"))
    assert "notebook-data" in zslbench.list_datasets()
    load_plugins(force=True)  # re-reads installed plugins; the notebook's registration stays
    assert registry.datasets.entry("notebook-data").origin.plugin == "in-process"
    with pytest.raises(DuplicateNameError):
        zslbench.register(_tiny_dataset_spec("notebook-data"))
    replacement = _tiny_dataset_spec("notebook-data")
    zslbench.register(replacement, replace=True)  # re-running the cell
    assert registry.datasets.get("notebook-data") is replacement
    with pytest.raises(DuplicateNameError):
        zslbench.register(_tiny_dataset_spec("synthetic"), replace=True)  # a plugin's name is never replaced


def test_in_process_task_type_is_what_get_task_returns(forget_in_process):
    import zslbench
    from zslbench.tasks import get_task
    from zslbench.tasks.single_label import SingleLabelTask

    class Transductive(SingleLabelTask):
        name = "transductive"

    task = Transductive()
    zslbench.register(task)
    assert get_task("transductive") is task
    with pytest.raises(UsageError, match="unknown task type 'few-shot'"):
        get_task("few-shot")


def test_registering_an_unknown_object_is_a_usage_error(forget_in_process):
    import zslbench

    with pytest.raises(UsageError, match="cannot register a dict"):
        zslbench.register({"name": "x"})
