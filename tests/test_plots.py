"""zslbench.results.plots: PNG files that exist, decode, and show the data they were given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zslbench import store
from zslbench.results import plots
from zslbench.errors import DataError, UsageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: str | Path) -> np.ndarray:
    """The file is a PNG that matplotlib decodes to an RGB(A) image; returns the pixels."""
    from matplotlib.image import imread

    path = Path(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4) and min(pixels.shape[:2]) > 50
    return pixels


def record(tmp_path: Path, method: str, seed: int, test: dict, curve: dict | None) -> store.RunRecord:
    run = store.run_dir_for(tmp_path, "toy", method, f"20260101-00000{seed}-s{seed}-x")
    store.atomic_write_json(run / store.CONFIG_FILE, {"method": method, "dataset": "toy", "seed": seed})
    store.write_status(run, "complete")
    metrics = {"task": "single-label", "test": test}
    if curve is not None:
        metrics["curve"] = curve
    store.atomic_write_json(run / store.METRICS_FILE, metrics)
    return store.read_run(run)


CURVE = {"gammas": [-2.0, 0.0, 2.0], "seen": [0.8, 0.6, 0.0], "unseen": [0.0, 0.3, 0.7], "intervals": 3}


def test_seen_unseen_curve_plot_returns_what_it_drew(tmp_path):
    raw = record(tmp_path, "a", 0, {"s": 0.6, "u": 0.3, "ausuc": 0.33}, CURVE)
    calibrated = record(tmp_path, "b", 0, {"s": 0.6, "u": 0.3, "ausuc": 0.33, "cs_s": 0.5, "cs_u": 0.4,
                                            "cs_gamma": 0.5}, CURVE)
    data = plots.plot_seen_unseen_curves([plots.curve_series(raw), plots.curve_series(calibrated)],
                                         tmp_path / "curves.png")
    assert_png(data["path"])
    first, second = data["series"]
    assert first["seen"] == pytest.approx([80.0, 60.0, 0.0]) and first["unseen"] == pytest.approx([0.0, 30.0, 70.0])
    assert first["raw"] == pytest.approx([60.0, 30.0]) and first["calibrated"] is None
    assert second["calibrated"] == pytest.approx([50.0, 40.0]) and second["ausuc"] == pytest.approx(33.0)


def test_a_run_without_a_stored_curve_is_named(tmp_path):
    old = record(tmp_path, "a", 0, {"s": 0.6, "u": 0.3}, None)
    with pytest.raises(DataError, match=str(old.path)):
        plots.curve_series(old)
    with pytest.raises(UsageError):
        plots.plot_seen_unseen_curves([], tmp_path / "x.png")


def test_per_class_bars_average_seeds_and_sort_by_the_first_method(tmp_path):
    runs = [record(tmp_path, "a", seed, {"per_class": {"zsl_unseen": {"3": 0.2 + 0.2 * seed, "5": 0.9}}}, None)
            for seed in range(2)]
    means = plots.per_class_means(runs)
    assert means == pytest.approx({3: 0.3, 5: 0.9})
    names = ["c0", "c1", "c2", "cat", "c4", "dog"]
    data = plots.plot_per_class_accuracy({"a": means, "b": {3: 0.5}}, tmp_path / "bars.png", class_names=names)
    assert_png(data["path"])
    assert data["classes"] == [5, 3] and data["names"] == ["dog", "cat"]
    assert data["methods"]["a"] == pytest.approx([90.0, 30.0])
    assert data["methods"]["b"][0] is None and data["methods"]["b"][1] == pytest.approx(50.0)
    with pytest.raises(DataError):
        plots.plot_per_class_accuracy({"a": {}}, tmp_path / "none.png")


def test_explanation_hatches_the_contextualized_patches_and_shows_maps(tmp_path):
    image = np.random.default_rng(0).random((32, 32, 3))
    kept = np.array([[True, False], [False, False]])
    mask = np.zeros((32, 32), dtype=bool)
    mask[4:12, 4:12] = True
    maps = np.random.default_rng(1).random((3, 2, 2))
    data = plots.plot_explanation(image, tmp_path / "explain.png", kept=kept, maps=maps,
                                  attribute_names=["red", "round", "striped"], attribute_scores=[0.9, 0.5, 0.1],
                                  mask=mask, title="test")
    assert_png(data["path"])
    assert data["hatched_patches"] == 3 and data["kept"] == kept.tolist()
    assert data["attributes"] == ["red", "round", "striped"] and data["map_shape"] == [2, 2]
    with pytest.raises(UsageError):
        plots.plot_explanation(image, tmp_path / "nothing.png")


def test_patch_edges_and_mask_resize():
    assert plots.patch_edges(10, 3).tolist() == [0, 3, 6, 10]
    mask = np.array([[1, 0], [0, 0]], dtype=bool)
    assert plots.resize_mask(mask, 4).tolist() == [[True, True, False, False], [True, True, False, False],
                                                   [False] * 4, [False] * 4]


LOW_CURVE = {"gammas": [-2.0, 0.0, 2.0], "seen": [0.12, 0.08, 0.0], "unseen": [0.0, 0.03, 0.06], "intervals": 3}


def test_curve_axes_follow_the_data_not_a_fixed_0_100_frame(tmp_path):
    run = record(tmp_path, "a", 0, {"s": 0.08, "u": 0.03, "ausuc": 0.004}, LOW_CURVE)
    data = plots.plot_seen_unseen_curves([plots.curve_series(run)], tmp_path / "low.png")
    assert data["xlim"][0] == 0 and 12.0 <= data["xlim"][1] <= 13.0  # the whole curve, 5 % headroom
    assert data["ylim"][0] == 0 and 6.0 <= data["ylim"][1] <= 6.5
    assert data["groups"][0]["band"] is None  # one run: its own curve, no band


def test_several_seeds_draw_a_mean_curve_with_a_band(tmp_path):
    curves = [{"gammas": [-1.0, 0.0, 1.0], "seen": [0.8, 0.5, 0.0], "unseen": [0.0, 0.3, 0.6]},
              {"gammas": [-1.0, 0.0, 1.0], "seen": [0.8, 0.5, 0.0], "unseen": [0.0, 0.5, 0.8]}]
    runs = [record(tmp_path, "a", seed, {"s": 0.5, "u": 0.3 + 0.2 * seed, "ausuc": 0.3}, c)
            for seed, c in enumerate(curves)]
    data = plots.plot_seen_unseen_curves([plots.curve_series(r) for r in runs], tmp_path / "band.png",
                                         formats=("pdf",))
    (group,) = data["groups"]
    assert group["runs"] == 2 and group["band"] is not None
    seen = np.asarray(group["seen"])
    at_half = int(np.argmin(np.abs(seen - 50.0)))
    assert group["unseen"][at_half] == pytest.approx(40.0, abs=0.5)  # mean of 30 and 50
    low, high = np.asarray(group["band"][0]), np.asarray(group["band"][1])
    assert high[at_half] - low[at_half] == pytest.approx(2 * np.std([30.0, 50.0], ddof=1), abs=0.5)
    assert group["raw"] == pytest.approx([50.0, 40.0])
    assert data["ylim"][1] >= high[np.isfinite(high)].max()  # the band fits in the frame
    assert Path(data["paths"][1]).read_bytes()[:5] == b"%PDF-"


def test_per_class_bars_carry_error_bars_over_seeds(tmp_path):
    runs = [record(tmp_path, "a", seed, {"per_class": {"zsl_unseen": {"3": 0.2 + 0.2 * seed, "5": 0.25}}}, None)
            for seed in range(2)]
    stds = plots.per_class_stds(runs)
    assert stds[3] == pytest.approx(np.std([0.2, 0.4], ddof=1)) and stds[5] == pytest.approx(0.0)
    data = plots.plot_per_class_accuracy({"a": plots.per_class_means(runs)}, tmp_path / "err.png", spread={"a": stds})
    assert data["classes"] == [3, 5] and data["errors"]["a"][0] == pytest.approx(100 * stds[3])
    assert data["xlim"][1] == pytest.approx(1.05 * (30.0 + 100 * stds[3]))  # autoscaled to the longest bar


def assert_truetype_pdf(path: str | Path) -> None:
    """The PDF embeds its fonts as TrueType (Type 42), never Type 3 (which IEEE/ACM checkers refuse)."""
    data = Path(path).read_bytes()
    assert data[:5] == b"%PDF-"
    assert b"/Subtype /Type3" not in data and b"/Type3" not in data
    assert b"/FontFile2" in data  # an embedded TrueType font program


def test_every_pdf_embeds_truetype_fonts_not_type3(tmp_path):
    import matplotlib

    before = matplotlib.rcParams["pdf.fonttype"]
    runs = [record(tmp_path, "a", seed, {"s": 0.6, "u": 0.3, "ausuc": 0.2,
                                         "per_class": {"zsl_unseen": {"3": 0.4, "5": 0.9}}}, CURVE) for seed in range(2)]
    curves = plots.plot_seen_unseen_curves([plots.curve_series(r) for r in runs], tmp_path / "c.png", formats=("pdf",))
    bars = plots.plot_per_class_accuracy({"a": plots.per_class_means(runs)}, tmp_path / "p.png", formats=("pdf", "svg"))
    pdfs = [p for data in (curves, bars) for p in data["paths"] if p.endswith(".pdf")]
    assert len(pdfs) == 2
    for pdf in pdfs:
        assert_truetype_pdf(pdf)
    svg = (tmp_path / "p.svg").read_text()
    assert "<text" in svg  # svg.fonttype none: text stays text
    assert matplotlib.rcParams["pdf.fonttype"] == before  # set for the save only, not globally


def test_many_classes_draw_a_sorted_profile_one_column_wide(tmp_path):
    from matplotlib.image import imread

    rng = np.random.default_rng(0)
    means = {c: float(v) for c, v in enumerate(rng.random(100))}
    data = plots.plot_per_class_accuracy({"a": means, "b": {c: v / 2 for c, v in means.items()}},
                                         tmp_path / "many.png")
    assert data["layout"] == "profile" and len(data["classes"]) == 100
    assert data["methods"]["a"] == sorted(data["methods"]["a"], reverse=True)  # sorted by the first method
    height, width = imread(data["path"]).shape[:2]
    assert width <= 3.6 * 150 and height <= 3.2 * 150  # one paper column at the figure's 150 dpi
    few = plots.plot_per_class_accuracy({"a": {c: means[c] for c in range(10)}}, tmp_path / "few.png")
    assert few["layout"] == "rows"
