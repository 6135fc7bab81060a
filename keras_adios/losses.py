"""ADIOS loss functions, written once in `keras.ops` for every backend.

Each function follows the authors' code (YugeTen/adios, built on solo-learn);
see `docs/algorithm.md` §2 for the formulas. They are plain
functions so they can be reused outside `keras_adios.ADIOS`.

Conventions: embeddings are `(B, D)`; masks are `(B, H, W, N)` with values in
`[0, 1]`, where `1` means occluded (the masked view is `x * (1 - m_n)`).
"""

import math

from keras import ops

#: Added to `sin(pi * coverage)` in the sparsity penalty (authors' value).
PENALTY_EPSILON = 1e-10


def _l2_normalize(x, epsilon=1e-12):
    # torch.nn.functional.normalize: x / max(||x||, eps), written as
    # x / sqrt(max(||x||^2, eps^2)): the same values, and a finite gradient
    # for an all-zero row (e.g. a dead ReLU layer), where d sqrt(s)/ds at
    # s = 0 would make it NaN.
    x = ops.cast(x, "float32")
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x / ops.sqrt(ops.maximum(squared, epsilon * epsilon))


def _cosine_similarity(a, b):
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    return ops.sum(_l2_normalize(a) * _l2_normalize(b), axis=-1)


def nt_xent(z1, z2, temperature=0.2, gather_fn=None):
    """NT-Xent (SimCLR) loss with 2B anchors.

    The embeddings of both views are L2-normalised and stacked into `2B`
    anchors. For anchor `i` the positive is the other view of the same image
    and the negatives are every other anchor (the anchor itself excluded):

    `loss = mean_i -log(exp(s_ip / T) / sum_{j != i} exp(s_ij / T))`.

    Args:
        z1: `(B, D)` embeddings of the first view.
        z2: `(B, D)` embeddings of the second view (row `b` pairs with row `b`
            of `z1`).
        temperature: float, the softmax temperature `T`.
        gather_fn: optional callable that all-gathers a `(B, D)` tensor into
            the `(R * B, D)` global batch with a correct gradient, and returns
            `(gathered, offset)` where `offset` is this replica's first row.
            When given, the negatives come from the whole global batch.

    Returns:
        Scalar float32 loss, averaged over the local anchors.
    """
    z1 = _l2_normalize(z1)
    z2 = _l2_normalize(z2)
    batch = ops.shape(z1)[0]
    anchors = ops.concatenate([z1, z2], axis=0)  # (2B, D)
    if gather_fn is None:
        candidates = anchors
        offset = 0
        total = 2 * batch
        own = ops.arange(2 * batch)
        positive = ops.concatenate(
            [ops.arange(batch) + batch, ops.arange(batch)], axis=0
        )
    else:
        # Global layout: [z1 of all replicas ; z2 of all replicas].
        g1, offset = gather_fn(z1)
        g2, _ = gather_fn(z2)
        candidates = ops.concatenate([g1, g2], axis=0)
        global_batch = ops.shape(g1)[0]
        total = 2 * global_batch
        rows = ops.arange(batch) + offset
        own = ops.concatenate([rows, rows + global_batch], axis=0)
        positive = ops.concatenate([rows + global_batch, rows], axis=0)
    logits = ops.matmul(anchors, ops.transpose(candidates)) / temperature
    self_mask = ops.one_hot(own, total, dtype="float32")
    logits = logits - 1e9 * self_mask
    positive_logit = ops.sum(
        logits * ops.one_hot(positive, total, dtype="float32"), axis=-1
    )
    return ops.mean(ops.logsumexp(logits, axis=-1) - positive_logit)


def byol_loss(p, z):
    """BYOL regression loss `mean_b (2 - 2 cos(p_b, stop_gradient(z_b)))`.

    Args:
        p: `(B, D)` online predictions.
        z: `(B, D)` target projections (gradients are stopped).

    Returns:
        Scalar float32 loss.
    """
    return ops.mean(2.0 - 2.0 * _cosine_similarity(p, ops.stop_gradient(ops.convert_to_tensor(z))))


def simsiam_loss(p, z):
    """SimSiam negative cosine `D(p, z) = -mean_b cos(p_b, stop_gradient(z_b))`.

    Args:
        p: `(B, D)` predictions.
        z: `(B, D)` projections (gradients are stopped).

    Returns:
        Scalar float32 loss.
    """
    return -ops.mean(_cosine_similarity(p, ops.stop_gradient(ops.convert_to_tensor(z))))


def mask_coverage(masks):
    """Fraction of each image covered by each mask.

    Args:
        masks: `(B, H, W, N)` masks in `[0, 1]`.

    Returns:
        `(B, N)` float32 coverages `mean_{h,w} m_n(h, w)`.
    """
    return ops.mean(ops.cast(masks, "float32"), axis=(1, 2))


def sparsity_penalty(masks):
    """ADIOS sparsity penalty `sum_n mean_b 1 / (sin(pi * coverage_bn) + 1e-10)`.

    It equals 1 per mask at 50 % coverage and grows without bound as a mask
    becomes empty or covers the whole image. The masker *subtracts*
    `sparsity_weight` times this value from the objective it maximises.

    Args:
        masks: `(B, H, W, N)` masks in `[0, 1]`.

    Returns:
        Scalar float32 penalty (summed over the N masks).
    """
    coverage = mask_coverage(masks)
    per_sample = 1.0 / (ops.sin(math.pi * coverage) + PENALTY_EPSILON)
    return ops.sum(ops.mean(per_sample, axis=0))


def coverage_negative_entropy(coverage):
    """The authors' optional `alpha_entropy` term (undocumented in the paper).

    `sum_b sum_n s_bn log s_bn` with `s_b = softmax_n(coverage_b)`, i.e. the
    negative entropy of a softmax over each image's mask coverages. The masker
    maximises `alpha_entropy` times this value.

    Args:
        coverage: `(B, N)` coverages, e.g. from `mask_coverage`.

    Returns:
        Scalar float32.
    """
    coverage = ops.cast(coverage, "float32")
    log_s = ops.log_softmax(coverage, axis=-1)
    return ops.sum(ops.exp(log_s) * log_s)


def masked_view(images, mask):
    """Occludes `images` with one mask: `images * (1 - mask)`.

    Args:
        images: `(B, H, W, C)` normalised images.
        mask: `(B, H, W, 1)` or `(B, H, W)` mask, 1 = occluded.

    Returns:
        The masked images, same shape and dtype as `images`.
    """
    images = ops.convert_to_tensor(images)
    mask = ops.convert_to_tensor(mask)
    if len(mask.shape) == 3:
        mask = ops.expand_dims(mask, -1)
    return images * (1.0 - ops.cast(mask, images.dtype))
