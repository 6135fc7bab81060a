import numpy as np
import pytest

from keras_adios.data import DatasetNotFoundError, load_npz, validate_arrays

# tf.data and NumPy only: scripts/test.sh runs this module on TensorFlow alone.
pytestmark = pytest.mark.backend_independent


def test_valid_arrays():
    images = np.zeros((4, 8, 8, 3), "uint8")
    out_images, out_labels = validate_arrays(images, [0, 1, 2, 3])
    assert out_images.dtype == np.uint8 and out_labels.dtype == np.int32
    floats, labels = validate_arrays(np.zeros((2, 5, 5, 3), "float64"))
    assert floats.dtype == np.float32 and labels is None
    _, column = validate_arrays(images, np.arange(4)[:, None])
    assert column.shape == (4,)


@pytest.mark.parametrize(
    "images, labels, match",
    [
        (np.zeros((8, 8, 3), "uint8"), None, "single image"),
        (np.zeros((2, 8, 8), "uint8"), None, r"\(N, H, W, 3\)"),
        (np.zeros((2, 3, 8, 8), "uint8"), None, "Channels-first"),
        (np.zeros((2, 8, 8, 1), "uint8"), None, r"\(N, H, W, 3\)"),
        (np.zeros((0, 8, 8, 3), "uint8"), None, "empty"),
        (np.zeros((2, 8, 8, 3), "int32"), None, "uint8"),
        (np.zeros((2, 8, 8, 3), "uint8"), [0, 1, 2], "labels"),
        (np.zeros((2, 8, 8, 3), "uint8"), [0.5, 1.0], "integers"),
        (np.full((2, 8, 8, 3), 200.0), None, r"\[0, 255\]\? Divide by 255.*Received: values in \[200, 200\]"),
        (np.full((2, 8, 8, 3), -0.5), None, r"in \[0, 1\].*Received: values in \[-0.5, -0.5\]"),
        (np.where(np.arange(3 * 64 * 3).reshape(3, 8, 8, 3) == 200, np.nan, 0.5), None,
         r"NaN or infinite values in 1 image\(s\), the first at index 1.*Received: images with 1 non-finite"),
    ],
)
def test_invalid_arrays(images, labels, match):
    with pytest.raises(ValueError, match=match):
        validate_arrays(images, labels)


def test_load_npz(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 4, 3), dtype="uint8")
    np.savez(tmp_path / "a.npz", images=images, labels=np.array([2, 0, 1]))
    loaded, labels = load_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded, images)
    assert labels.tolist() == [2, 0, 1]
    np.savez(tmp_path / "b.npz", images=images)
    assert load_npz(tmp_path / "b.npz")[1] is None
    np.savez(tmp_path / "c.npz", x=images)
    with pytest.raises(ValueError, match="'images'"):
        load_npz(tmp_path / "c.npz")
    with pytest.raises(DatasetNotFoundError):
        load_npz(tmp_path / "missing.npz")
