"""A built-in synthetic dataset of coloured shapes on textured backgrounds.

`load_synthetic_shapes` needs no download, is generated with vectorised NumPy
in about a second per 10k 32x32 images, and comes with exact ground truth
(foreground and part masks, the object-free background). It is the default
dataset of the README and the benchmarks, and lets the mask quality of ADIOS be
measured (the masks should find the object and its parts).

Design:

* **The class is the shape.** Each of the 10 classes in `CLASS_NAMES` is made
  of 2-3 primitive parts (rectangles, ellipses, half-ellipses, triangles),
  defined in a canonical frame `[-1, 1]^2`.
* Each object gets a random scale (object area roughly 15-45 % of the image;
  thin shapes are capped so that they stay in the frame), a random anisotropic
  stretch (up to about +-18 %), a random rotation (full circle by default),
  and a random position that keeps the object's bounding box inside the frame.
* **Every part has its own flat, saturated colour** (HSV saturation >= 0.75,
  value >= 0.7, hues of the parts at least 0.2 apart on the hue circle).
* **Backgrounds are textured, subdued and class-independent**: a random mix
  of two of {smooth value noise, stripes at a random angle and frequency (soft
  or hard), rotated checkerboards, linear gradients, Gaussian blobs}, at 35 %
  of its full range, coloured between two random near-grey colours
  (saturation <= 0.1, value 0.4-0.6), plus grey pixel noise. Because of the
  saturation gap, object pixels never equal background pixels, and the
  background carries no information about the class. Subdued, because with
  loud backgrounds (any value, saturation up to 0.45, full texture range)
  their colour and texture are the easiest per-image cue, and SSL in a short
  budget learns them rather than the shape.
* **Exact masks**: shapes are rasterised at pixel centres without
  anti-aliasing, so `foreground` and `parts` match the drawn pixels exactly:
  `images == background` outside the foreground and `images` equals the part
  colour inside.
* **Deterministic streams**: images are generated in fixed blocks of
  `_BLOCK_SIZE` images, block `k` of split `s` drawing from
  `np.random.default_rng([seed, split_id(s), k])`. So a dataset is a function
  of `(seed, split, image_size, max_rotation)` only, a smaller `num_images` gives
  a prefix of a larger one, train/validation/test use different streams, and
  all random draws except the pixel noise are resolution-independent (the same
  seed at 32 and 64 px gives the same scenes).
* Labels are balanced: every run of `len(CLASS_NAMES)` consecutive images is
  a random permutation of the classes.

`background_variants` (in `keras_adios.data.background_variants`) derives
Backgrounds-Challenge-style test sets from the returned masks.
"""

import math

import numpy as np

CLASS_NAMES = (
    "T",
    "L",
    "cross",
    "house",
    "snowman",
    "arrow",
    "hammer",
    "dumbbell",
    "mushroom",
    "key",
)

_SPLIT_IDS = {"train": 0, "test": 1, "validation": 2}
_DEFAULT_NUM_IMAGES = {"train": 10_000, "test": 2_000, "validation": 2_000}
_BLOCK_SIZE = 500
_MAX_PARTS = 3
_AREA_RANGE = (0.15, 0.45)
_FIT_FRACTION = 0.98  # the object's rotated bounding box spans <= 98 % of the side

# Canonical parts, painted in order (later parts over earlier ones). Part ids
# in the `parts` mask are the 1-based positions in these lists.
# ("rect", x0, x1, y0, y1), ("ellipse", cx, cy, rx, ry),
# ("half_ellipse", cx, cy, rx, ry) = the upper half (y <= cy) of an ellipse,
# ("tri", xa, ya, xb, yb, xc, yc). Image convention: y points down.
_SHAPES = {
    "T": [("rect", -0.8, 0.8, -0.8, -0.35), ("rect", -0.22, 0.22, -0.35, 0.85)],
    "L": [("rect", -0.6, -0.15, -0.85, 0.85), ("rect", -0.15, 0.6, 0.4, 0.85)],
    "cross": [
        ("rect", -0.8, 0.8, -0.22, 0.22),
        ("rect", -0.22, 0.22, -0.8, 0.8),
    ],
    "house": [
        ("rect", -0.6, 0.6, -0.15, 0.8),
        ("tri", -0.8, -0.15, 0.8, -0.15, 0.0, -0.85),
        ("rect", -0.17, 0.17, 0.3, 0.8),
    ],
    "snowman": [("ellipse", 0.0, 0.35, 0.5, 0.5), ("ellipse", 0.0, -0.45, 0.35, 0.35)],
    "arrow": [
        ("rect", -0.85, 0.15, -0.18, 0.18),
        ("tri", 0.1, -0.55, 0.1, 0.55, 0.85, 0.0),
    ],
    "hammer": [
        ("rect", -0.12, 0.12, -0.35, 0.9),
        ("rect", -0.35, 0.65, -0.8, -0.35),
        ("tri", -0.35, -0.8, -0.35, -0.4, -0.85, -0.9),
    ],
    "dumbbell": [
        ("rect", -0.55, 0.55, -0.12, 0.12),
        ("ellipse", -0.58, 0.0, 0.32, 0.32),
        ("ellipse", 0.58, 0.0, 0.32, 0.32),
    ],
    "mushroom": [
        ("half_ellipse", 0.0, 0.05, 0.85, 0.75),
        ("rect", -0.22, 0.22, 0.05, 0.8),
    ],
    "key": [
        ("ellipse", -0.5, 0.0, 0.38, 0.38),
        ("rect", -0.2, 0.85, -0.11, 0.11),
        ("rect", 0.5, 0.72, 0.11, 0.4),
    ],
}

_NUM_PATTERNS = 5  # noise, stripes, checkerboard, gradient, blobs
# Backgrounds are textured but subdued: low saturation, mid grey values, and
# the texture at `_BG_CONTRAST` of its full range around its mean. With the
# full range (saturation up to 0.45, values 0.15-0.9, full contrast) the
# background colour and texture are the strongest per-image cue, and SSL in a
# CPU-minutes budget learns them instead of the shape: kNN at or below an
# untrained encoder (benchmarks/results/quickstart_investigation.md).
_BG_SATURATION = (0.0, 0.1)
_BG_VALUE = (0.4, 0.6)
_BG_CONTRAST = 0.35
# `background="shortcut"`: the loud backgrounds (the dataset's first design),
# kept as the variant on which the background is the easiest shared cue.
_BACKGROUNDS = {
    "subdued": dict(saturation=_BG_SATURATION, value=_BG_VALUE, contrast=_BG_CONTRAST),
    "shortcut": dict(saturation=(0.0, 0.45), value=(0.15, 0.9), contrast=1.0),
}
_NOISE_GRID = 6
_NUM_BLOBS = 3


def _primitive_mask(primitive, u, v):
    kind, *p = primitive
    if kind == "rect":
        x0, x1, y0, y1 = p
        return (u >= x0) & (u <= x1) & (v >= y0) & (v <= y1)
    if kind in ("ellipse", "half_ellipse"):
        cx, cy, rx, ry = p
        inside = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2 <= 1.0
        if kind == "half_ellipse":
            inside &= v <= cy
        return inside
    if kind == "tri":
        xa, ya, xb, yb, xc, yc = p

        def edge(x0, y0, x1, y1):
            return (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0)

        e0, e1, e2 = edge(xa, ya, xb, yb), edge(xb, yb, xc, yc), edge(xc, yc, xa, ya)
        return ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
    raise ValueError(f"Unknown primitive {kind!r}.")


def _rasterize_parts(shape_name, u, v):
    parts = np.zeros(u.shape, dtype=np.int32)
    for part_id, primitive in enumerate(_SHAPES[shape_name], start=1):
        parts[_primitive_mask(primitive, u, v)] = part_id
    return parts


def _canonical_stats():
    """Per-class area (canonical units^2) and bounding box, on a fine grid."""
    n = 512
    grid = (np.arange(n, dtype=np.float64) + 0.5) / n * 2.0 - 1.0
    v, u = np.meshgrid(grid, grid, indexing="ij")
    stats = []
    for name in CLASS_NAMES:
        fg = _rasterize_parts(name, u, v) > 0
        area = fg.mean() * 4.0
        stats.append((area, u[fg].min(), u[fg].max(), v[fg].min(), v[fg].max()))
    return np.asarray(stats, dtype=np.float64)


_CANONICAL_STATS = _canonical_stats()


def _hsv_to_rgb(h, s, v):
    """Vectorised HSV -> RGB, inputs in [0, 1] of equal shape; returns (..., 3)."""
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


def _draw_scene_params(rng, n, max_rotation, background):
    """All random draws of a block that do not depend on the resolution."""
    num_classes = len(CLASS_NAMES)
    reps = -(-n // num_classes)
    labels = np.concatenate([rng.permutation(num_classes) for _ in range(reps)])[:n]
    p = {"labels": labels.astype(np.int32)}
    p["area"] = rng.uniform(*_AREA_RANGE, size=n)
    p["log_aspect"] = rng.uniform(-math.log(1.18), math.log(1.18), size=n)
    p["theta"] = rng.uniform(-1.0, 1.0, size=n) * math.radians(max_rotation)
    p["pos"] = rng.uniform(0.0, 1.0, size=(n, 2))
    hue0 = rng.uniform(0.0, 1.0, size=n)
    hue_steps = rng.uniform(0.2, 0.4, size=(n, _MAX_PARTS - 1))
    hues = np.concatenate([hue0[:, None], hue0[:, None] + np.cumsum(hue_steps, 1)], 1)
    p["fg_hsv"] = np.stack(
        [
            hues % 1.0,
            rng.uniform(0.75, 1.0, size=(n, _MAX_PARTS)),
            rng.uniform(0.7, 1.0, size=(n, _MAX_PARTS)),
        ],
        axis=-1,
    )
    # Background: two pattern types, a mixing weight, two colours.
    p["pattern_a"] = rng.integers(0, _NUM_PATTERNS, size=n)
    p["pattern_b"] = rng.integers(0, _NUM_PATTERNS, size=n)
    p["pattern_mix"] = rng.uniform(0.5, 1.0, size=n)
    p["bg_hsv"] = np.stack(
        [
            rng.uniform(0.0, 1.0, size=(n, 2)),
            rng.uniform(*_BACKGROUNDS[background]["saturation"], size=(n, 2)),
            rng.uniform(*_BACKGROUNDS[background]["value"], size=(n, 2)),
        ],
        axis=-1,
    )
    p["noise_grid"] = rng.uniform(0.0, 1.0, size=(n, _NOISE_GRID + 1, _NOISE_GRID + 1))
    p["stripe_angle"] = rng.uniform(0.0, math.pi, size=n)
    p["stripe_freq"] = rng.uniform(1.5, 6.0, size=n)
    p["stripe_phase"] = rng.uniform(0.0, 2 * math.pi, size=n)
    p["stripe_hardness"] = np.exp(rng.uniform(0.0, math.log(20.0), size=n))
    p["checker_angle"] = rng.uniform(0.0, math.pi / 2, size=n)
    p["checker_cell"] = rng.uniform(1 / 8, 1 / 3, size=n)
    p["checker_offset"] = rng.uniform(0.0, 1.0, size=(n, 2))
    p["gradient_angle"] = rng.uniform(0.0, 2 * math.pi, size=n)
    p["blob_centers"] = rng.uniform(0.0, 1.0, size=(n, _NUM_BLOBS, 2))
    p["blob_sigmas"] = rng.uniform(0.08, 0.3, size=(n, _NUM_BLOBS))
    p["noise_std"] = rng.uniform(0.0, 0.05, size=n)
    return p


def _pattern(kind, p, x, y):
    """Texture `kind` in [0, 1] for the images of the parameter subset `p`."""
    n = p["stripe_angle"].shape[0]
    size = x.shape[-1]

    def per_image(a):
        return np.asarray(a, dtype=np.float32)[:, None, None]

    if kind == 0:  # Smooth value noise: bilinear interpolation of a coarse grid.
        gy, gx = y * _NOISE_GRID, x * _NOISE_GRID
        y0 = np.minimum(np.floor(gy).astype(np.int64), _NOISE_GRID - 1)
        x0 = np.minimum(np.floor(gx).astype(np.int64), _NOISE_GRID - 1)
        fy, fx = gy - y0, gx - x0
        grid = p["noise_grid"].astype(np.float32)
        y0 = np.broadcast_to(y0, (n, size, size))
        x0 = np.broadcast_to(x0, (n, size, size))
        b = np.arange(n)[:, None, None]
        top = grid[b, y0, x0] * (1 - fx) + grid[b, y0, x0 + 1] * fx
        bottom = grid[b, y0 + 1, x0] * (1 - fx) + grid[b, y0 + 1, x0 + 1] * fx
        return top * (1 - fy) + bottom * fy
    if kind == 1:  # Stripes, from soft (sinusoid) to hard (square wave).
        a = per_image(p["stripe_angle"])
        phase = 2 * np.pi * per_image(p["stripe_freq"]) * (x * np.cos(a) + y * np.sin(a))
        wave = np.sin(phase + per_image(p["stripe_phase"]))
        return 0.5 + 0.5 * np.tanh(per_image(p["stripe_hardness"]) * wave)
    if kind == 2:  # Rotated checkerboard.
        a = per_image(p["checker_angle"])
        cell = per_image(p["checker_cell"])
        xr = (x * np.cos(a) - y * np.sin(a)) / cell + per_image(p["checker_offset"][:, 0])
        yr = (x * np.sin(a) + y * np.cos(a)) / cell + per_image(p["checker_offset"][:, 1])
        return ((np.floor(xr) + np.floor(yr)) % 2).astype(np.float32)
    if kind == 3:  # Linear gradient in a random direction.
        a = per_image(p["gradient_angle"])
        proj = (x - 0.5) * np.cos(a) + (y - 0.5) * np.sin(a)
        return np.clip(proj / math.sqrt(2) + 0.5, 0.0, 1.0)
    # kind == 4: Gaussian blobs.
    blobs = np.zeros((n, size, size), dtype=np.float32)
    for k in range(_NUM_BLOBS):
        cx = per_image(p["blob_centers"][:, k, 0])
        cy = per_image(p["blob_centers"][:, k, 1])
        inv = per_image(0.5 / p["blob_sigmas"][:, k] ** 2)
        blobs += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) * inv)
    return np.minimum(blobs, 1.0)


def _backgrounds(p, size, rng, background):
    n = p["labels"].shape[0]
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = np.meshgrid(coords, coords, indexing="ij")
    x, y = x[None], y[None]
    # Per image: mix * pattern_a + (1 - mix) * pattern_b; each texture is only
    # computed for the images that use it.
    pattern = np.zeros((n, size, size), dtype=np.float32)
    mix = p["pattern_mix"].astype(np.float32)
    for kind in range(_NUM_PATTERNS):
        use_a, use_b = p["pattern_a"] == kind, p["pattern_b"] == kind
        sel = np.nonzero(use_a | use_b)[0]
        if sel.size == 0:
            continue
        weight = np.where(use_a[sel], mix[sel], 0.0) + np.where(use_b[sel], 1 - mix[sel], 0.0)
        subset = {k: v[sel] for k, v in p.items()}
        pattern[sel] += weight[:, None, None] * _pattern(kind, subset, x, y)
    pattern = 0.5 + _BACKGROUNDS[background]["contrast"] * (pattern - 0.5)

    colors = _hsv_to_rgb(*np.moveaxis(p["bg_hsv"], -1, 0)).astype(np.float32)  # (n, 2, 3)
    c0, c1 = colors[:, None, None, 0], colors[:, None, None, 1]
    # Grey (luminance) pixel noise: keeps the background's low saturation.
    noise = rng.standard_normal((n, size, size, 1), dtype=np.float32)
    noise *= p["noise_std"].astype(np.float32)[:, None, None, None]
    bg = c0 + (c1 - c0) * pattern[..., None] + noise
    return np.clip(bg * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


def _objects(p, size):
    """Returns the part-id masks (n, size, size) int32 for a block."""
    n = p["labels"].shape[0]
    stats = _CANONICAL_STATS[p["labels"]]
    area, bx0, bx1, by0, by1 = stats.T
    aspect = np.exp(p["log_aspect"])
    theta = p["theta"]
    cos, sin = np.cos(theta), np.sin(theta)
    # Rotated (and stretched) extents of the canonical bounding box, per unit scale.
    corners_x = np.stack([bx0, bx1, bx1, bx0], 1) * aspect[:, None]
    corners_y = np.stack([by0, by0, by1, by1], 1) / aspect[:, None]
    rot_x = cos[:, None] * corners_x - sin[:, None] * corners_y
    rot_y = sin[:, None] * corners_x + cos[:, None] * corners_y
    extent = np.maximum(rot_x.max(1) - rot_x.min(1), rot_y.max(1) - rot_y.min(1))
    scale = np.sqrt(p["area"] * size * size / area)  # pixels per canonical unit
    scale = np.minimum(scale, _FIT_FRACTION * size / extent)
    # Translation keeping the rotated bounding box inside the frame.
    lo_x, hi_x = -rot_x.min(1) * scale, size - rot_x.max(1) * scale
    lo_y, hi_y = -rot_y.min(1) * scale, size - rot_y.max(1) * scale
    tx = lo_x + p["pos"][:, 0] * (hi_x - lo_x)
    ty = lo_y + p["pos"][:, 1] * (hi_y - lo_y)

    coords = (np.arange(size, dtype=np.float32) + 0.5)[None]
    parts = np.zeros((n, size, size), dtype=np.int32)
    for label in np.unique(p["labels"]):
        sel = np.nonzero(p["labels"] == label)[0]

        def col(a):
            return a[sel].astype(np.float32)[:, None, None]

        dx = coords[:, None, :] - col(tx)
        dy = coords[:, :, None] - col(ty)
        # Inverse of: pixel = t + R(theta) @ diag(s * aspect, s / aspect) @ q.
        u = (col(cos) * dx + col(sin) * dy) / (col(scale) * col(aspect))
        v = (-col(sin) * dx + col(cos) * dy) / (col(scale) / col(aspect))
        parts[sel] = _rasterize_parts(CLASS_NAMES[label], u, v)
    return parts


def _generate_block(seed, split_id, block, size, max_rotation, background_kind):
    rng = np.random.default_rng([seed, split_id, block])
    p = _draw_scene_params(rng, _BLOCK_SIZE, max_rotation, background_kind)
    parts = _objects(p, size)
    background = _backgrounds(p, size, rng, background_kind)
    fg_colors = _hsv_to_rgb(*np.moveaxis(p["fg_hsv"], -1, 0))  # (n, P, 3)
    fg_colors = np.clip(fg_colors * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
    palette = np.concatenate([np.zeros_like(fg_colors[:, :1]), fg_colors], axis=1)
    drawn = palette[np.arange(_BLOCK_SIZE)[:, None, None], parts]
    foreground = parts > 0
    images = np.where(foreground[..., None], drawn, background)
    return {
        "images": images,
        "labels": p["labels"],
        "foreground": foreground,
        "parts": parts,
        "background": background,
    }


def load_synthetic_shapes(
    split="train",
    num_images=None,
    image_size=32,
    seed=0,
    max_rotation=180.0,
    background="subdued",
):
    """Generates the synthetic shapes dataset (no download, deterministic).

    Each image shows one object whose class is its shape (see `CLASS_NAMES`),
    built from 2-3 flat-coloured parts, at a random scale, rotation and
    position on a textured, class-independent background. See the module
    docstring for the exact generative process.

    Args:
        split: string. `"train"`, `"validation"` or `"test"`; each split is a
            different random stream. Defaults to `"train"`.
        num_images: int or `None`. Number of images. `None` means 10000 for
            `"train"` and 2000 otherwise. Smaller values give a prefix of
            larger ones.
        image_size: int >= 16. Height and width of the square images.
            Defaults to `32`.
        seed: int >= 0. The random seed. Defaults to `0`.
        max_rotation: float. Objects are rotated by an angle drawn uniformly
            from `[-max_rotation, max_rotation]` degrees. Defaults to `180.0`
            (any orientation).
        background: `"subdued"` (default) or `"shortcut"`. `"shortcut"`
            draws the backgrounds loud (saturation up to 0.45, value
            0.15-0.9, full texture contrast): then the background, which
            covers most of the image and survives crops and colour jitter,
            is the easiest cue two views of an image share, and SSL learns
            it instead of the shape, as in the Backgrounds Challenge (Xiao
            et al., 2020). Everything else (objects, colours, masks, labels)
            is the same scene for the same seed.

    Returns:
        A dict of NumPy arrays:
        `"images"`: uint8 `(N, S, S, 3)`;
        `"labels"`: int32 `(N,)`, indices into `CLASS_NAMES`;
        `"foreground"`: bool `(N, S, S)`, the object's pixels;
        `"parts"`: int32 `(N, S, S)`, 0 for the background and `1..P` for the
        object's parts (`P` is 2 or 3 depending on the class);
        `"background"`: uint8 `(N, S, S, 3)`, the image without the object.

    Example:

    ```python
    from keras_adios.data import CLASS_NAMES, load_synthetic_shapes

    data = load_synthetic_shapes("train", num_images=1000, image_size=32)
    data["images"].shape  # (1000, 32, 32, 3)
    CLASS_NAMES[data["labels"][0]]
    ```
    """
    if split not in _SPLIT_IDS:
        raise ValueError(
            f"`split` must be one of {sorted(_SPLIT_IDS)}. Received: split={split!r}"
        )
    if num_images is None:
        num_images = _DEFAULT_NUM_IMAGES[split]
    if int(num_images) != num_images or num_images < 1:
        raise ValueError(
            f"`num_images` must be a positive integer. Received: num_images={num_images}"
        )
    if int(image_size) != image_size or image_size < 16:
        raise ValueError(
            f"`image_size` must be an integer >= 16. Received: image_size={image_size}"
        )
    if int(seed) != seed or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed}")
    if background not in _BACKGROUNDS:
        raise ValueError(
            f"`background` must be one of {sorted(_BACKGROUNDS)}. "
            f"Received: background={background!r}"
        )
    num_images, image_size, seed = int(num_images), int(image_size), int(seed)
    out = {
        "images": np.empty((num_images, image_size, image_size, 3), np.uint8),
        "labels": np.empty((num_images,), np.int32),
        "foreground": np.empty((num_images, image_size, image_size), bool),
        "parts": np.empty((num_images, image_size, image_size), np.int32),
        "background": np.empty((num_images, image_size, image_size, 3), np.uint8),
    }
    for start in range(0, num_images, _BLOCK_SIZE):
        block = _generate_block(
            seed,
            _SPLIT_IDS[split],
            start // _BLOCK_SIZE,
            image_size,
            float(max_rotation),
            background,
        )
        stop = min(start + _BLOCK_SIZE, num_images)
        for key, value in out.items():
            value[start:stop] = block[key][: stop - start]
    return out
