"""OpenCV background removal: GrabCut on a small copy, mask refined at full size."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BackgroundParams:
    """GrabCut settings (config keys BG_*)."""

    method: str = "grabcut"
    work_size: int = 44
    iterations: int = 3
    rect_margin: float = 0.04
    fill_value: int = 0


def _grabcut_small(small: np.ndarray, params: BackgroundParams) -> np.ndarray:
    """Foreground probability (0/1 float) of a small RGB image from rectangle-seeded GrabCut."""
    height, width = small.shape[:2]
    margin_y = max(1, int(round(height * params.rect_margin)))
    margin_x = max(1, int(round(width * params.rect_margin)))
    rect = (margin_x, margin_y, width - 2 * margin_x, height - 2 * margin_y)
    mask = np.zeros((height, width), np.uint8)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), mask, rect, background_model,
                foreground_model, params.iterations, cv2.GC_INIT_WITH_RECT)
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)


def _keep_largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected foreground region with its holes filled."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return mask.astype(bool)
    largest = max(contours, key=cv2.contourArea)
    filled = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(filled, [largest], -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def foreground_mask(image: np.ndarray, params: BackgroundParams = BackgroundParams()) -> np.ndarray:
    """Boolean (H, W) foreground mask of an RGB uint8 image."""
    height, width = image.shape[:2]
    if params.method == "none":
        return np.ones((height, width), dtype=bool)
    scale = params.work_size / max(height, width)
    small_size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    probability = _grabcut_small(small, params)
    if probability.sum() < 4:  # GrabCut found nothing: keep the whole frame
        return np.ones((height, width), dtype=bool)
    full = cv2.resize(cv2.GaussianBlur(probability, (3, 3), 0), (width, height),
                      interpolation=cv2.INTER_LINEAR)
    return _keep_largest_component(full > 0.5)


def apply_mask(image: np.ndarray, mask: np.ndarray, fill_value: int = 0) -> np.ndarray:
    """The image with background pixels set to ``fill_value``."""
    cleaned = image.copy()
    cleaned[~mask] = fill_value
    return cleaned


def mask_iou(predicted: np.ndarray, true: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(predicted, true).sum()
    return 1.0 if union == 0 else float(np.logical_and(predicted, true).sum() / union)
