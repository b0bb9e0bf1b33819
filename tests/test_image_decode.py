from __future__ import annotations

import pytest

from realsyn.image_decode import DecodeParams, hamming, inspect_image
from tests.image_fixtures import bad_payloads, encode, jpeg, photo

PAYLOADS = bad_payloads()


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_every_payload_ends_with_a_specific_outcome(name):
    data, expected = PAYLOADS[name]
    out = inspect_image(data)
    assert out.error == expected, (out.error, out.error_detail)
    if expected is None:
        assert out.width and out.height and out.phash is not None and out.format
    else:
        assert out.error_detail and out.phash is None
    assert len(out.sha256) == 64


def test_awkward_images_are_described_correctly():
    describe = {n: inspect_image(PAYLOADS[n][0]) for n in PAYLOADS}
    assert (describe["exif_rotated"].width, describe["exif_rotated"].height) == (150, 300)
    assert describe["exif_rotated"].exif_orientation == 6
    assert describe["animated_gif"].n_frames == 3 and describe["animated_gif"].format == "GIF"
    assert describe["cmyk_jpeg"].mode == "CMYK"
    assert describe["png_16bit"].mode.startswith("I;16")
    assert (describe["strip_1x5000"].width, describe["strip_1x5000"].height) == (1, 5000)
    assert describe["palette_transparency"].mode == "P"


def test_bomb_guard_is_a_parameter():
    big = encode(photo(400, 300), "PNG")
    assert inspect_image(big, DecodeParams(max_pixels=100_000)).error == "decompression_bomb"
    assert inspect_image(big).error is None
    assert inspect_image(big, DecodeParams(max_bytes=100)).error == "too_many_bytes"


def test_phash_survives_reencoding_and_separates_images():
    a = inspect_image(jpeg(seed=1)).phash
    a_low = inspect_image(encode(photo(seed=1).resize((160, 120)), "JPEG", quality=40)).phash
    b = inspect_image(jpeg(seed=2)).phash
    assert hamming(a, a_low) <= 6
    assert hamming(a, b) > 16


def test_exif_rotation_changes_the_hash_like_the_upright_image():
    rotated = inspect_image(PAYLOADS["exif_rotated"][0]).phash
    upright = inspect_image(encode(photo(300, 150).rotate(-90, expand=True), "JPEG")).phash
    assert hamming(rotated, upright) <= 6


def test_decoding_is_deterministic():
    data = PAYLOADS["cmyk_jpeg"][0]
    assert inspect_image(data) == inspect_image(data)
    assert inspect_image(b"plain text") == inspect_image(b"plain text")
