import cv2
import numpy as np
import pytest

from common.errors import ImageReadError
from common.images import list_images, read_rgb


def _png(path, array):
    ok, data = cv2.imencode(".png", array)
    path.write_bytes(data.tobytes())
    return path


def test_formats_are_normalised_to_rgb_uint8(tmp_path):
    cases = {
        "gray.png": np.full((20, 30), 200, np.uint8),
        "deep.png": np.full((20, 30, 3), 60000, np.uint16),
        "alpha.png": np.full((20, 30, 4), 100, np.uint8),
    }
    for name, array in cases.items():
        image = read_rgb(_png(tmp_path / name, array))
        assert image.dtype == np.uint8 and image.shape == (20, 30, 3), name


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"), (b"hello, I am text", "not a decodable image"),
])
def test_unusable_files_give_reasons(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason):
        read_rgb(path)


def test_tiny_and_truncated(tmp_path):
    with pytest.raises(ImageReadError, match="too small"):
        read_rgb(_png(tmp_path / "one.png", np.zeros((1, 1, 3), np.uint8)))
    data = _png(tmp_path / "ok.png", np.random.default_rng(0).integers(0, 255, (64, 64, 3),
                                                                        dtype=np.uint8)).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError):
        read_rgb(tmp_path / "cut.png")


def test_unicode_names_and_listing(tmp_path):
    folder = tmp_path / "café dir"
    folder.mkdir()
    _png(folder / "ünï cödé.png", np.zeros((10, 10, 3), np.uint8))
    (folder / "notes.txt").write_text("x")
    found = list_images(tmp_path)
    assert [p.name for p in found] == ["ünï cödé.png"]
    assert read_rgb(found[0]).shape == (10, 10, 3)


def test_png_size_is_read_from_the_header_like_pillow():
    from io import BytesIO

    from PIL import Image

    from common.images import _image_size_from_header

    buffer = BytesIO()
    Image.new("RGB", (37, 21)).save(buffer, format="PNG")
    assert _image_size_from_header(buffer.getvalue()) == (37, 21)
    buffer = BytesIO()
    Image.new("RGB", (37, 21)).save(buffer, format="JPEG")
    assert _image_size_from_header(buffer.getvalue()) == (37, 21)
    assert _image_size_from_header(b"\x89PNG\r\n\x1a\n" + b"\x00" * 4) is None


def test_names_that_cannot_reach_the_line_based_outputs():
    import os

    from common.images import name_problem, printable_name

    assert name_problem("café/photo 1.png") == ""
    assert "line break" in name_problem("two\nlines.png")
    odd = os.fsdecode(b"\xff\xfe.png")
    assert "not valid UTF-8" in name_problem(odd)
    assert printable_name(odd) == "\\xff\\xfe.png" and printable_name("a\nb") == "a\\nb"


def test_a_float_tiff_is_read_with_its_range_stretched(tmp_path):
    from PIL import Image

    from common.images import read_rgb

    values = np.linspace(-2.0, 5000.0, 40 * 30, dtype=np.float32).reshape(30, 40)
    Image.fromarray(values).save(tmp_path / "float.tif")        # mode F
    image = read_rgb(tmp_path / "float.tif")
    assert image.shape == (30, 40, 3) and image.dtype == np.uint8
    assert image.min() == 0 and image.max() == 255
    assert np.all(np.diff(image[..., 0].ravel().astype(int)) >= 0)      # order kept
