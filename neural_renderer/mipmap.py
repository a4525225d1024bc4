"""The mip levels of a UV texture's image: its pyramid of 2 x 2 means."""
import numpy

import chainer
from chainer import backend
from chainer import function_node
from chainer.utils import type_check

from neural_renderer import _launcher
from neural_renderer._checks import unwrap


def level_shapes(height, width, levels=None):
    """[(h, w)] of levels 0, 1, ...: each side ceil(n / 2) of the one
    before, down to 1 x 1 (or ``levels`` of them)."""
    shapes = [(height, width)]
    while (levels is None and shapes[-1] != (1, 1)) or \
            (levels is not None and len(shapes) < levels):
        h, w = shapes[-1]
        shapes.append(((h + 1) // 2, (w + 1) // 2))
    return shapes


class MipLevels(function_node.FunctionNode):
    """Image [B, H, W, 3] -> its levels 1..L-1, one after the other
    (each row-major): [B, Pc, 3], Pc their texels.

    Level l + 1 of a level of h x w texels has ceil(h / 2) x ceil(w / 2),
    each texel the mean of the 2 x 2 texels of level l below it; an odd
    side is first extended by its first row (column) with ``repeat``
    (GL_REPEAT) or by its last (GL_CLAMP_TO_EDGE); a side of 1 stays 1.
    Forward and backward are the kernels of ``kernels/mipmap.cuh`` (one
    launch per level; the gradient is pulled by each finer texel from the
    coarser ones, no atomics).

    Args:
        levels (int): L >= 2, the levels with level 0 (the image itself).
        repeat (bool): the wrapping of odd sides, as above.
    """

    def __init__(self, levels, repeat):
        self.levels = levels
        self.repeat = repeat

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('image',))
        image_type, = in_types
        type_check.expect(
            image_type.dtype.kind == 'f',
            image_type.ndim == 4,
            image_type.shape[3] == 3,
        )

    def _shapes(self, image_shape):
        return level_shapes(image_shape[1], image_shape[2], self.levels)

    def forward(self, inputs):
        image, = inputs
        self.image_shape = image.shape
        return build_levels(image, self._shapes(image.shape), self.repeat),

    def backward(self, indexes, grad_outputs):
        grad_coarse, = grad_outputs
        xp = backend.get_array_module(grad_coarse.array)
        grad_image = xp.zeros(self.image_shape, grad_coarse.dtype)
        add_level_gradients(xp.array(grad_coarse.array, order='C'),
                            grad_image, self._shapes(self.image_shape),
                            self.repeat)
        return chainer.Variable(grad_image),


def build_levels(image, shapes, repeat):
    """Levels 1.. of ``image`` [B, H, W, 3] (an array), their sizes
    ``shapes`` (level_shapes: level 0 first): [B, Pc, 3], by the kernel
    mip_downsample, one launch per level."""
    xp = backend.get_array_module(image)
    image = xp.ascontiguousarray(image)
    batch = image.shape[0]
    coarse_texels = sum(h * w for h, w in shapes[1:])
    # Flat, so that each level is a contiguous view from its offset (the
    # kernels stride through the batch themselves).
    coarse = xp.empty(batch * coarse_texels * 3, image.dtype)
    fine, fine_stride, offset = image, shapes[0][0] * shapes[0][1], 0
    for (h, w), (h2, w2) in zip(shapes[:-1], shapes[1:]):
        level = coarse[3 * offset:]
        _launcher.launch(
            'mip_downsample', batch * h2 * w2, image.dtype, fine=fine,
            fine_stride=fine_stride, height=h, width=w, repeat=int(repeat),
            coarse=level, coarse_stride=coarse_texels)
        fine, fine_stride = level, coarse_texels
        offset += h2 * w2
    return coarse.reshape(batch, coarse_texels, 3)


def add_level_gradients(grad_coarse, grad_image, shapes, repeat):
    """Adds to grad_image [B, H, W, 3] (C-contiguous) the gradient that
    grad_coarse [B, Pc, 3] (C-contiguous; overwritten) of levels 1.. gives
    it through the 2 x 2 means: level L-1 adds its gradient to level L-2,
    and so on down to the image (mip_downsample_backward)."""
    batch, coarse_texels = grad_coarse.shape[:2]
    grad = grad_coarse.reshape(-1)
    offsets = numpy.cumsum([0] + [h * w for h, w in shapes[1:]])
    for level in range(len(shapes) - 1, 0, -1):
        h, w = shapes[level - 1]
        if level == 1:
            target, target_stride = grad_image, h * w
        else:
            target = grad[3 * offsets[level - 2]:]
            target_stride = coarse_texels
        _launcher.launch(
            'mip_downsample_backward', batch * h * w, grad.dtype,
            grad_coarse=grad[3 * offsets[level - 1]:],
            coarse_stride=coarse_texels, height=h, width=w,
            repeat=int(repeat), grad_fine=target, fine_stride=target_stride)


def mip_levels(image, repeat, levels=None):
    """Levels 1..L-1 of ``image`` [B, H, W, 3] (a Variable or array) as
    :class:`MipLevels` computes them: a Variable [B, Pc, 3]. ``levels``:
    L, by default down to 1 x 1."""
    array = unwrap(image)
    if levels is None:
        levels = len(level_shapes(array.shape[1], array.shape[2]))
    coarse, = MipLevels(levels, bool(repeat)).apply((image,))
    return coarse
