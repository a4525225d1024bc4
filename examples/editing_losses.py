"""The losses of 2D-to-3D style transfer and 3D DeepDream (paper sec. 4.2).

All take and return ``chainer.Variable`` objects (or arrays) of float32 on
NumPy or CuPy and are differentiable with respect to the features, images
and vertices they get. Masks are treated as constants (their ``.array`` is
used): see :func:`masked_gram_matrix` for why.

Conventions: feature maps are [B, C, h, w]; images [B, 3, H, W] RGB;
silhouettes (masks) [B, H, W] with values in [0, 1] (the renderer's alpha:
1 inside, 0 outside, fractional on anti-aliased edges).
"""
import chainer
import chainer.functions as F


def _array(x):
    return x.array if isinstance(x, chainer.Variable) else x


def gram_matrix(features):
    """Normalised Gram matrices of whole feature maps.

    G[b] = F_b F_b^T / (C h w), with F_b the [C, h w] matrix of image b.
    The same as :func:`masked_gram_matrix` with a mask of ones.

    Args:
        features: [B, C, h, w] float32.

    Returns:
        Variable [B, C, C] float32.
    """
    batch, channels, height, width = features.shape
    flat = F.reshape(features, (batch, channels, height * width))
    return F.matmul(flat, flat, transb=True) / (channels * height * width)


def pool_mask(mask, height, width):
    """A silhouette [B, H, W] averaged down to a feature map's [h, w].

    Each feature cell gets the mean of the s x s block of pixels it comes
    from, s = H / h, which must be an integer equal to W / w (VGG halves the
    size at each pooling; image sizes that are multiples of 8 keep every
    style layer exact). Returns an array [B, 1, h, w] (no gradient).

    Raises:
        ValueError: H, W are not the same integer multiple of h, w.
    """
    mask = _array(mask)
    batch, big_h, big_w = mask.shape
    factor = big_h // height
    if factor < 1 or factor * height != big_h or factor * width != big_w:
        raise ValueError(
            'mask of size {}x{} cannot be pooled to a feature map of {}x{}: '
            'use image sizes that are multiples of 8'.format(
                big_h, big_w, height, width))
    mask = mask.reshape(batch, 1, big_h, big_w)
    if factor == 1:
        return mask
    return F.average_pooling_2d(mask, factor, factor).array


def masked_gram_matrix(features, mask):
    """Gram matrices of the features inside the silhouette.

    With m the mask pooled to the map's size (:func:`pool_mask`) and
    F'_b = F_b * m_b (each channel multiplied by the mask, [C, h w]):
    G[b] = F'_b F'_b^T / (C * sum(m_b)). For a binary mask this is the Gram
    matrix of the covered cells alone, averaged over them.

    The mask is a constant here: the silhouette's outline already gets
    gradients through the rendered colours (the edge against the
    background); letting the normalisation carry gradients too would let
    the optimiser change the statistics by growing or shrinking the
    silhouette rather than by painting it.

    Args:
        features: [B, C, h, w] float32.
        mask: [B, H, W] float32 in [0, 1], H = s h and W = s w.

    Returns:
        Variable [B, C, C] float32. An empty mask (sum 0) gives G = 0
        rather than 0 / 0.
    """
    batch, channels, height, width = features.shape
    xp = chainer.backend.get_array_module(_array(features))
    pooled = pool_mask(mask, height, width)
    masked = features * xp.broadcast_to(pooled, features.shape)
    flat = F.reshape(masked, (batch, channels, height * width))
    area = xp.maximum(pooled.reshape(batch, -1).sum(axis=1), 1e-8)
    norm = (channels * area).astype(flat.dtype).reshape(batch, 1, 1)
    return F.matmul(flat, flat, transb=True) / xp.broadcast_to(
        norm, (batch, channels, channels))


def style_loss(features, masks, style_grams, weights=None):
    """Squared Frobenius distances of Gram matrices, weighted, summed over
    layers and averaged over the batch.

    L = (1 / B) sum_b sum_l w_l |G_l(b) - S_l|_F^2, G_l the masked Gram
    matrix (:func:`masked_gram_matrix`) of rendered image b at layer l and
    S_l that of the style image (:func:`gram_matrix`).

    Args:
        features: list over layers of [B, C_l, h_l, w_l] float32.
        masks: [B, H, W] silhouettes.
        style_grams: list over layers of [C_l, C_l] (or [1, C_l, C_l])
            float32 arrays.
        weights: list over layers of floats w_l, or None for all 1 (the
            paper's plain sum).

    Returns:
        Variable [] float32.
    """
    batch = features[0].shape[0]
    if weights is None:
        weights = [1.] * len(features)
    total = 0
    for feature, target, weight in zip(features, style_grams, weights):
        gram = masked_gram_matrix(feature, masks)
        target = _array(target).reshape((1,) + gram.shape[1:])
        xp = chainer.backend.get_array_module(target)
        total += weight * F.sum(F.square(
            gram - xp.broadcast_to(target, gram.shape)))
    return total / batch


def relative_style_weights(style_grams):
    """w_l = 1 / |S_l|_F^2: each layer's term of :func:`style_loss` becomes
    its Gram matrix's squared error relative to the style image's, so that
    a layer whose features are larger does not dominate the sum.

    Args:
        style_grams: list of [C_l, C_l] float32 arrays.

    Returns:
        list of Python floats.
    """
    weights = []
    for gram in style_grams:
        norm = float((_array(gram).astype('float64') ** 2).sum())
        weights.append(1. / norm if norm > 0 else 0.)
    return weights


def content_loss(vertices, content_vertices):
    """L_c = sum_i |v_i - v_i^c|^2 over the vertices (paper sec. 4.2.1).

    Args:
        vertices: [V, 3] float32 (the optimised mesh).
        content_vertices: [V, 3] float32 (the content mesh; same faces).

    Returns:
        Variable [] float32.
    """
    return F.sum(F.square(vertices - content_vertices))


def total_variation(images, masks=None):
    """Squared differences of adjacent pixels, inside the silhouette.

    The pairs are the horizontal neighbours (i, j), (i, j + 1) and the
    vertical neighbours (i, j), (i + 1, j). A pair (a, b) counts with weight
    m_a m_b, the product of the two pixels' silhouette coverage: 1 when both
    pixels are fully covered, 0 as soon as one is background, a fraction on
    anti-aliased edges. So the outline against the background is not
    penalised, only noise on the object.

    L_t = (1 / B) sum_b sum_pairs m_a m_b sum_channels (p_a - p_b)^2.

    Args:
        images: [B, C, H, W] float32.
        masks: [B, H, W] float32 in [0, 1], or None (every pair counts, as
            the paper's definition over the whole image).

    Returns:
        Variable [] float32.
    """
    batch = images.shape[0]
    dx = F.square(images[:, :, :, 1:] - images[:, :, :, :-1])
    dy = F.square(images[:, :, 1:, :] - images[:, :, :-1, :])
    if masks is not None:
        m = _array(masks)[:, None]
        wx = m[:, :, :, 1:] * m[:, :, :, :-1]
        wy = m[:, :, 1:, :] * m[:, :, :-1, :]
        xp = chainer.backend.get_array_module(m)
        dx = dx * xp.broadcast_to(wx, dx.shape)
        dy = dy * xp.broadcast_to(wy, dy.shape)
    return (F.sum(dx) + F.sum(dy)) / batch


def deep_dream_loss(features):
    """-|f|_F^2 (paper sec. 4.2.2), averaged over the batch.

    L = -(1 / B) sum_b sum_{c, y, x} f[b, c, y, x]^2: minimising it makes
    the activations grow. Not normalised by the map's size, as in the
    paper; its value therefore grows with the image size.

    Args:
        features: [B, C, h, w] float32.

    Returns:
        Variable [] float32.
    """
    return -F.sum(F.square(features)) / features.shape[0]


def edge_lengths(vertices, faces):
    """Lengths of the three edges of every face, [F * 3] float32 (edges
    shared by two faces appear twice)."""
    corners = [vertices[_array(faces)[:, k]] for k in range(3)]
    edges = [corners[1] - corners[0], corners[2] - corners[1],
             corners[0] - corners[2]]
    squared = F.concat([F.sum(F.square(e), axis=1) for e in edges], axis=0)
    # + tiny: the square root's gradient stays finite on zero-length edges.
    return F.sqrt(squared + 1e-12)


def edge_length_variance(vertices, faces):
    """Variance of :func:`edge_lengths`: a small regulariser that keeps the
    triangles evenly sized while the vertices move.

    Args:
        vertices: [V, 3] float32; faces: [F, 3] int32.

    Returns:
        Variable [] float32.
    """
    lengths = edge_lengths(vertices, faces)
    return F.mean(F.square(lengths - F.mean(lengths)))
