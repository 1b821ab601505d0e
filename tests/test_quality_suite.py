"""The quality suite's dataset builders (on tiny fixtures) and its competition protocol."""
from __future__ import annotations

import argparse
import gzip
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.datasets import DatasetUnavailable, LabeledPicture, balanced
from common.images import encode_png


def _decoded(picture: LabeledPicture) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(picture.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, picture.label
    return image


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_balanced_caps_each_class_and_drops_thin_ones():
    pictures = [LabeledPicture(label, b"") for label in "a" * 5 + "b" * 3 + "c"]
    kept = balanced(pictures, per_class=4, min_per_class=2, seed=0)
    assert Counter(p.label for p in kept) == {"a": 4, "b": 3}
    assert kept == balanced(pictures, per_class=4, min_per_class=2, seed=0)


def test_fashion_builder_reads_the_idx_files(tmp_path):
    from benchmarks.datasets import fashion

    labels = np.repeat(np.arange(10), 3)
    images = np.random.default_rng(0).integers(0, 255, size=(30, 28, 28))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    pictures = fashion.build(per_class=2, directory=tmp_path)
    assert len(pictures) == 20 and len({p.label for p in pictures}) == 10
    assert _decoded(pictures[0]).shape == (28, 28)
    with pytest.raises(DatasetUnavailable, match="dataset-fashion-mnist"):
        fashion.build(directory=tmp_path / "missing")


def test_digits_builder_gives_ten_classes():
    from benchmarks.datasets import digits

    pictures = digits.build(per_class=3)
    assert Counter(p.label for p in pictures) == {f"digit_{d}": 3 for d in range(10)}
    assert _decoded(pictures[0]).shape == (32, 32)


def test_glyph_builder_renders_one_picture_per_font_and_character(tmp_path):
    import matplotlib

    from benchmarks.datasets import glyphs

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"       # DejaVu, STIX, cm fonts
    pictures = glyphs.build(per_class=16, font_dirs=[fonts], characters="Ag")
    assert Counter(p.label for p in pictures) == {"char_0041": 16, "char_0067": 16}
    image = _decoded(pictures[0])
    assert image.shape == (glyphs.SIDE, glyphs.SIDE, 3) and image.std() > 10
    with pytest.raises(DatasetUnavailable, match="apt-get install"):
        glyphs.build(font_dirs=[tmp_path])
    files = sorted(fonts.glob("*.ttf"))                              # files serve as folders do
    assert glyphs.usable_fonts(files, "Ag") == glyphs.usable_fonts([fonts], "Ag")


def test_glyph_fonts_come_from_the_named_packages_only(monkeypatch):
    from benchmarks.datasets import glyphs

    listing = "/usr/share/fonts/truetype/a/A.ttf\n/usr/share/doc/a/copyright\n/x/B.OTF\n"
    monkeypatch.setattr(glyphs.subprocess, "run", lambda command, **_: type(
        "Done", (), {"stdout": listing if command[:2] == ["dpkg-query", "-L"] else ""})())
    assert glyphs.package_font_files("fonts-a") == [Path("/usr/share/fonts/truetype/a/A.ttf"),
                                                    Path("/x/B.OTF")]

    def no_dpkg(*_, **__):
        raise FileNotFoundError("dpkg-query")
    monkeypatch.setattr(glyphs.subprocess, "run", no_dpkg)
    assert glyphs.package_font_files() == []                       # then /usr/share/fonts counts


def test_icon_theme_builder_groups_by_context_and_drops_copies(tmp_path):
    from benchmarks.datasets import icon_themes

    rng = np.random.default_rng(0)
    for context, count in (("apps", 16), ("places", 15), ("emblems", 3)):
        for size in (32, 48):
            folder = tmp_path / f"{size}x{size}" / context
            folder.mkdir(parents=True)
            for i in range(count):
                icon = rng.integers(0, 255, size=(size, size, 4), dtype=np.uint8)
                cv2.imwrite(str(folder / f"icon{i}.png"), icon)
    same = tmp_path / "48x48" / "apps"
    (same / "copy.png").write_bytes((same / "icon0.png").read_bytes())     # identical bytes
    (same / "link.png").symlink_to(same / "icon1.png")
    pictures = icon_themes.build_gnome(per_class=80, theme_dir=tmp_path)
    assert Counter(p.label for p in pictures) == {"apps": 16, "places": 15}   # emblems: < 15
    assert {_decoded(p).shape for p in pictures} == {(48, 48, 4)}            # as shipped, 48 px
    with pytest.raises(DatasetUnavailable, match="oxygen-icon-theme"):
        icon_themes.build_oxygen(theme_dir=tmp_path / "none")


def test_photo_crop_builder_crops_each_photo(tmp_path):
    from benchmarks.datasets import photo_crops

    paths = {}
    for name, colour in (("red", (0, 0, 255)), ("blue", (255, 0, 0))):
        paths[name] = tmp_path / f"{name}.png"
        cv2.imwrite(str(paths[name]), np.full((200, 300, 3), colour, np.uint8))
    pictures = photo_crops.build(per_class=3, paths=paths)
    assert Counter(p.label for p in pictures) == {"red": 3, "blue": 3}
    assert _decoded(pictures[0]).shape == (photo_crops.SIDE, photo_crops.SIDE, 3)
    assert set(photo_crops.photo_paths()) >= {"astronaut", "grace_hopper"}
    assert all(path.is_file() for path in photo_crops.photo_paths().values())


def test_suite_protocol_labels_a_share_of_every_other_class(tmp_path, monkeypatch):
    from benchmarks import quality_suite

    pictures = [LabeledPicture(label, encode_png(np.full((16, 16), i, np.uint8)))
                for label in ("a", "b", "c", "d") for i in range(20)]
    monkeypatch.setattr(quality_suite, "builders", lambda: {"toy": lambda **_: pictures})
    rows = quality_suite.write_set(tmp_path / "toy", "toy", per_class=20, seed=0)
    assert len(rows) == 80 and all(r["file"].startswith("img_") for r in rows)   # anonymous
    assert sorted(p.name for p in (tmp_path / "toy" / "raw_img").iterdir()) == \
        sorted(r["file"] for r in rows)
    label_of = {r["file"]: r["label"] for r in rows}
    for budget, per_class in ((0.1, 2), (0.3, 6), (0.5, 10)):
        labeled = quality_suite.labeled_draw(rows, budget, seed=0)
        assert Counter(label_of[f] for f in labeled) == {"a": per_class, "c": per_class}
        assert labeled == quality_suite.labeled_draw(rows, budget, seed=0)
    assert quality_suite.labeled_draw(rows, 0.0, seed=0) == set()      # a folder without labels
    assert quality_suite.cell_folder(0.1) == "b10"
    assert quality_suite.cell_folder(0.3, "per-image") == "b30_per-image"
    assert quality_suite.write_set(tmp_path / "toy", "toy", per_class=20, seed=0) == rows
    assert quality_suite.labeled_share("0.1") == 0.1
    for wrong in ("10", "1", "-0.1"):                   # "10" meant 10 %: all images labeled
        with pytest.raises(argparse.ArgumentTypeError, match="not a share"):
            quality_suite.labeled_share(wrong)


def test_other_seeds_cluster_as_stage_04_does_with_deduplicate(tmp_path):
    """The extra seeds fit one image per duplicate group when DEDUPLICATE is on, as stage 04."""
    from benchmarks import quality_suite
    from cluster.run import ClusterSettings, cluster_feature_set, known_labels
    from config import load_config
    from evaluate.run import read_clusters

    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), 40)
    features = np.abs(rng.normal(scale=6.0, size=(4, 16))[y]
                      + rng.normal(size=(160, 16))).astype(np.float32)
    files = [f"img_{i:03d}.png" for i in range(160)]
    raw = tmp_path / "raw"
    raw.mkdir()
    for i, file in enumerate(files):      # ten images of class 1 are byte-copies of image 0
        (raw / file).write_bytes(b"image 0" if i == 0 or 40 <= i < 50 else f"image {i}".encode())
    truth = {f: f"c{label}" for f, label in zip(files, y)}
    labeled = {f for i, f in enumerate(files) if y[i] in (0, 2) and i % 2 == 1}
    unlabeled = [f for f in files if f not in labeled]
    scores = {}
    for deduplicate in ("false", "true"):
        config = load_config({"SOM_ROWS": "5", "SOM_COLS": "5", "SOM_EPOCHS": "5",
                              "FEATURE_PCA": "8", "SEED": "1",
                              "RAW_DIR": str(raw), "DEDUPLICATE": deduplicate,
                              "DUPLICATE_SIMILARITY": "0"}, environ={})     # identical files
        out = tmp_path / deduplicate
        out.mkdir()
        summary = cluster_feature_set(features, files, known_labels(files, truth, labeled), out,
                                      "clusters", ClusterSettings.from_config(config), raw)
        stage_04 = quality_suite.score_subset(truth, read_clusters(out / "clusters.csv"),
                                              unlabeled)["NMI"]
        again = quality_suite.seed_scores(config, {"pipeline": (features, files)}, truth,
                                          labeled, unlabeled, 1)
        assert (again["NMI"], again["k"]) == (pytest.approx(stage_04), summary["n_clusters"])
        scores[deduplicate] = stage_04
    assert scores["true"] < scores["false"]      # the copies took image 0's cluster


def test_other_seeds_recluster_the_cell_and_the_tables_show_them():
    from sklearn.datasets import make_blobs

    from benchmarks import quality_suite
    from config import load_config

    X, y = make_blobs(240, n_features=8, centers=6, cluster_std=0.4, random_state=0)
    features = np.abs(X).astype(np.float32)
    files = [f"img_{i:03d}.png" for i in range(len(X))]
    truth = {f: f"c{label}" for f, label in zip(files, y)}
    labeled = {f for i, f in enumerate(files) if y[i] in (0, 2, 4) and i % 2 == 0}
    unlabeled = [f for f in files if f not in labeled]
    config = load_config({"SOM_ROWS": "6", "SOM_COLS": "6", "SOM_EPOCHS": "5",
                          "FEATURE_PCA": "0"}, environ={})
    views = {"pipeline": (features, files), "untuned": (features[:, ::-1].copy(), files)}
    seeds = [quality_suite.seed_scores(config, views, truth, labeled, unlabeled, seed)
             for seed in (1, 2)]
    assert all(0.0 <= run[key] <= 1.0 for run in seeds
               for key in ("NMI", "NMI_untuned", "NMI_kmeans"))
    assert all(2 <= run["k"] <= 20 for run in seeds)
    assert seeds[0]["NMI_kmeans"] > 0.9                    # six separated blobs, told k = 6
    assert seeds == [quality_suite.seed_scores(config, views, truth, labeled, unlabeled, seed)
                     for seed in (1, 2)]                   # seeded
    assert np.isnan(quality_suite.seed_scores(config, {"pipeline": views["pipeline"]}, truth,
                                              labeled, unlabeled, 1)["NMI_untuned"])

    scores = {"NMI": 0.5, "purity": 0.6, "ARI": 0.4, "ACC": 0.5}
    cell = {"pipeline": {**scores, "k_pred": 6}, "pipeline (all images)": scores,
            "un-fine-tuned pipeline": scores, "KMeans, true k": scores,
            "pixels, KMeans, true k": scores, "k_true": 6,
            "seeds": [{"NMI": 0.5, "k": 6, "NMI_untuned": 0.5, "NMI_kmeans": 0.5},
                      {"NMI": 0.7, "k": 9, "NMI_untuned": 0.55, "NMI_kmeans": 0.7},
                      {"NMI": 0.6, "k": 7, "NMI_untuned": 0.6, "NMI_kmeans": 0.66}]}
    row = quality_suite.flatten("toy", 0.3, cell)
    assert row["NMI_seeds"] == pytest.approx(0.6)
    assert row["NMI_untuned_seeds"] == pytest.approx(0.55)
    assert row["NMI_kmeans_seeds"] == pytest.approx(0.62)
    assert quality_suite.baseline_verdict([row]).endswith("0/1 cells; short: toy 30% (0.600 vs "
                                                          "KMeans 0.620)")
    assert quality_suite.baseline_verdict([{**row, "NMI_kmeans_seeds": 0.605}]).endswith(
        "1/1 cells")
    assert (row["k_hits_seeds"], row["n_seeds"]) == (2, 3)
    assert quality_suite.hit_rate([row]).endswith("over 3 stage-04 seeds: 2/3 (67%)")
    rows = quality_suite.with_means([row], (0.3,))
    assert "2/3" in quality_suite.text_table(rows).splitlines()[1]
    markdown = quality_suite.markdown_table(rows).splitlines()
    assert all(line.count("|") == markdown[0].count("|") for line in markdown)
    assert "| 0.600 | 2 / 3 | 0.550 | 0.620 |" in markdown[2]
    untuned_missing = {**row, "NMI_untuned": float("nan"), "NMI_untuned_seeds": float("nan")}
    assert "| 0.600 | 2 / 3 | - | 0.620 |" in quality_suite.markdown_table([untuned_missing])
    assert "nan" not in quality_suite.text_table([untuned_missing])


def test_fine_tuning_seeds_are_pooled_per_cell_and_their_spread_reported():
    from benchmarks import quality_suite

    def row(name, ft_seed, nmi, k, hits):
        return {"set": name, "budget": 0.3, "NMI": nmi, "purity": nmi, "ARI": nmi, "ACC": nmi,
                "k_pred": k, "k_true": 6, "NMI_all": nmi, "NMI_untuned": 0.5,
                "NMI_kmeans": 0.5, "NMI_pixels": 0.2, "NMI_seeds": nmi, "NMI_untuned_seeds": 0.5,
                "NMI_kmeans_seeds": 0.5, "k_hits_seeds": hits, "n_seeds": 4, "ft_seed": ft_seed}

    results = [row("toy", 0, 0.6, 6, 4), row("toy", 1, 0.4, 9, 1), row("other", 0, 0.7, 6, 3),
               row("other", 1, 0.7, 7, 2)]
    pooled = quality_suite.pool_ft_seeds(results)
    assert [(r["set"], r["NMI_seeds"], r["k_pred"], r["k_hits_seeds"], r["n_seeds"])
            for r in pooled] == [("toy", pytest.approx(0.5), 7.5, 5, 8),
                                 ("other", pytest.approx(0.7), 6.5, 5, 8)]
    assert quality_suite.pool_ft_seeds(results[:1]) == results[:1]     # one seed: as it was
    assert quality_suite.baseline_verdict(pooled).startswith(
        "at least the un-fine-tuned pipeline") and "toy" not in quality_suite.baseline_verdict(
        pooled)                                  # 0.5 pooled is not short of 0.5
    assert quality_suite.baseline_verdict(results).endswith("short: toy 30% (0.400 vs untuned "
                                                            "0.500, KMeans 0.500)")
    spread = quality_suite.ft_seed_spread(results)
    assert spread.startswith("fine-tuning seeds 0, 1: suite mean NMI (stage-04 seed means) "
                             "0.650, 0.550 (range 0.100)")
    assert "moves by 0.100 on average, most: toy 30% 0.200, other 30% 0.000" in spread
    assert quality_suite.ft_seed_spread(results[::2]) == ""
    table = quality_suite.text_table(quality_suite.with_means(pooled, (0.3,)))
    assert "7.5/6" in table and "5/8" in table


def test_saved_runs_of_other_fine_tuning_seeds_summarise_as_one_run(tmp_path):
    from benchmarks import quality_suite

    def row(ft_seed, nmi, k):
        return {"set": "toy", "budget": 0.3, "NMI": nmi, "purity": 0.5, "ARI": 0.4, "ACC": 0.5,
                "k_pred": k, "k_true": 6, "NMI_all": nmi, "NMI_untuned": float("nan"),
                "NMI_kmeans": 0.5, "NMI_pixels": 0.2, "NMI_seeds": nmi,
                "NMI_untuned_seeds": float("nan"), "NMI_kmeans_seeds": 0.5, "k_hits_seeds": 3,
                "n_seeds": 4, "ft_seed": ft_seed}

    before_ft_seeds = {key: value for key, value in row(0, 0.6, 6).items() if key != "ft_seed"}
    runs = {"first": [row(0, 0.6, 6)], "later": [row(1, 0.4, 9), row(2, 0.5, 7)],
            "old": [before_ft_seeds]}
    for label, rows in runs.items():
        quality_suite.save_results(tmp_path, label, rows)
    saved = quality_suite.saved_results("first+later", tmp_path)
    assert [r["ft_seed"] for r in saved] == [0, 1, 2]
    assert saved[1] == {**runs["later"][0], "NMI_untuned": pytest.approx(float("nan"),
                                                                         nan_ok=True),
                        "NMI_untuned_seeds": pytest.approx(float("nan"), nan_ok=True)}
    assert quality_suite.summary(saved) == quality_suite.summary(runs["first"] + runs["later"])
    assert quality_suite.summary(quality_suite.saved_results("old", tmp_path)) == \
        quality_suite.summary(runs["first"])                     # saved before ft_seed: seed 0
    text = quality_suite.summary(saved)[0]
    assert "7.3/6" in text and "9/12" in text and "fine-tuning seeds 0, 1, 2" in text


def test_per_image_draw_labels_each_known_image_with_the_budget_as_probability():
    """Each known class's labeled count varies around budget x size (at least 2); the unknown
    classes get none; the same seed draws the same files."""
    from benchmarks import quality_suite

    rows = [{"file": f"{label}_{i:03d}.png", "label": label}
            for label in "abcdefghij" for i in range(100)]
    label_of = {r["file"]: r["label"] for r in rows}
    counts = Counter(label_of[f] for f in quality_suite.labeled_draw(rows, 0.3, 0, "per-image"))
    assert set(counts) == set("acegi")
    assert len(set(counts.values())) > 1 and all(15 <= n <= 45 for n in counts.values())
    assert quality_suite.labeled_draw(rows, 0.3, 0, "per-image") == \
        quality_suite.labeled_draw(rows, 0.3, 0, "per-image")
    assert min(Counter(label_of[f] for f in
                       quality_suite.labeled_draw(rows, 0.001, 0, "per-image")).values()) == 2
    exact = Counter(label_of[f] for f in quality_suite.labeled_draw(rows, 0.3, 0))
    assert set(exact.values()) == {30}


def test_a_cells_run_folder_is_keyed_by_what_its_network_depends_on():
    """Without self-training the folders made before the key existed stay valid; with it, a
    setting of the draft's clustering is another network (stage 02 would fine-tune anew)."""
    from benchmarks import quality_suite
    from config import load_config

    def key(**overrides):
        config = load_config(overrides)
        return quality_suite.settings_key(config, quality_suite.model_fingerprint(config))

    one_round = load_config({"SELF_TRAIN_SHARE": "0"})
    assert key(SELF_TRAIN_SHARE="0") == quality_suite.settings_key(
        one_round, one_round.fingerprint(quality_suite.MODEL_KEYS))
    assert key(SELF_TRAIN_SHARE="0.5") != key(SELF_TRAIN_SHARE="0")
    assert key(SELF_TRAIN_SHARE="0.5", ANCHOR_SHARE="0") != key(SELF_TRAIN_SHARE="0.5")
    assert key(SELF_TRAIN_SHARE="0", ANCHOR_SHARE="0") == key(SELF_TRAIN_SHARE="0")
    # FEATURE_SET=auto's draft clusters the fine-tuned features: the same network as finetuned's
    assert key(FEATURE_SET="auto") == key(FEATURE_SET="finetuned") != key(FEATURE_SET="both")
