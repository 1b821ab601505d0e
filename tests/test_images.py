from collections import Counter

import cv2
import numpy as np
import pytest
from PIL import Image

from common.errors import ImageReadError
from common.images import _pillow_decoded, list_images, read_rgb


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
    (folder / "IMG_0001.HEIC").write_bytes(b"x")
    clip = np.zeros((10, 12, 3), np.uint8)
    clip[2:6, 3:8] = (200, 30, 40)
    Image.fromarray(clip).save(folder / "clip.gif")
    ignored = Counter()
    found = list_images(tmp_path, ignored)
    assert [p.name for p in found] == ["clip.gif", "ünï cödé.png"]
    assert ignored == {".txt": 1, ".heic": 1}
    assert np.array_equal(read_rgb(found[0]), clip)            # GIF: its first frame
    assert np.array_equal(_pillow_decoded(found[0].read_bytes()), read_rgb(found[0]))  # old cv2
    assert read_rgb(found[1]).shape == (10, 10, 3)


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


def _photo(height, width, seed=0):
    """A smooth colour image with some texture (JPEG-friendly, like a photo)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 50 + 2, width // 50 + 2, 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image + rng.integers(-6, 7, image.shape), 0, 255).astype(np.uint8)


def _jpeg(path, rgb, exif_orientation=0):
    from PIL import Image

    image = Image.fromarray(rgb)
    exif = image.getexif()
    if exif_orientation:
        exif[0x0112] = exif_orientation
    image.save(path, "JPEG", quality=92, exif=exif.tobytes())
    return path


def test_a_large_jpeg_is_decoded_reduced_and_shrunk_to_max_side(tmp_path):
    path = _jpeg(tmp_path / "big.jpg", _photo(1500, 2000))
    full = read_rgb(path)
    shrunk = read_rgb(path, max_side=256)
    assert shrunk.shape == (192, 256, 3) and shrunk.dtype == np.uint8
    reference = cv2.resize(full, (256, 192), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - reference).mean() < 2.0     # same picture, cheaper decode
    rotated = _jpeg(tmp_path / "rotated.jpg", _photo(1500, 2000), exif_orientation=6)
    assert read_rgb(rotated, max_side=256).shape == (256, 192, 3)   # EXIF still applied


def test_images_that_fit_come_back_exactly_as_decoded(tmp_path):
    jpeg = _jpeg(tmp_path / "small.jpg", _photo(300, 400))
    png = _png(tmp_path / "small.png", _photo(300, 400))
    for path in (jpeg, png):
        assert np.array_equal(read_rgb(path, max_side=512), read_rgb(path))
        assert np.array_equal(read_rgb(path, max_side=400), read_rgb(path))
    big_png = _png(tmp_path / "big.png", _photo(900, 600))
    assert read_rgb(big_png, max_side=300).shape == (300, 200, 3)


def test_a_reduced_decode_never_makes_a_thin_image_too_small(tmp_path):
    path = _jpeg(tmp_path / "strip.jpg", _photo(40, 4000))
    # 1/8 would leave 5 px rows (under MIN_SIDE): decoded at 1/2 (2000 x 20), then shrunk
    assert read_rgb(path, max_side=300).shape == (3, 300, 3)


def test_jpeg_size_is_read_past_the_exif_block_like_pillow(tmp_path):
    from PIL import Image

    from common.images import _jpeg_size

    path = _jpeg(tmp_path / "exif.jpg", _photo(120, 170), exif_orientation=3)
    with Image.open(path) as image:
        assert _jpeg_size(path.read_bytes()) == image.size == (170, 120)
    assert _jpeg_size(b"\xff\xd8\xff\xe0\x00") is None
