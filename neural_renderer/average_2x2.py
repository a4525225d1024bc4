"""The 2 x 2 block average that turns a 2x supersampled image into the
anti-aliased output."""
import chainer
from chainer import backend
from chainer import function_node
from chainer.utils import type_check

from neural_renderer import _host_pool


class Average2x2(function_node.FunctionNode):
    """[..., 2H, 2W] -> [..., H, W]: each output pixel is the mean of its
    2 x 2 block of samples.

    The same as ``F.average_pooling_2d(x, 2, 2)`` on [B, C, 2H, 2W] images,
    for any number of leading axes, computed as four strided sums instead
    of im2col (several times faster on the CPU). The gradient is not itself
    differentiable.
    """

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('x',))
        x_type, = in_types
        type_check.expect(
            x_type.dtype.kind == 'f',
            x_type.ndim >= 2,
            x_type.shape[-2] % 2 == 0,
            x_type.shape[-1] % 2 == 0,
        )

    def forward(self, inputs):
        x, = inputs
        xp = backend.get_array_module(x)
        y = _host_pool.empty(xp, x.shape[:-2] + (x.shape[-2] // 2,
                                                 x.shape[-1] // 2), x.dtype)
        # ((x00 + x10) + x01) + x11, then * 1/4, in place.
        xp.add(x[..., 0::2, 0::2], x[..., 1::2, 0::2], out=y)
        y += x[..., 0::2, 1::2]
        y += x[..., 1::2, 1::2]
        y *= x.dtype.type(0.25)
        return y,

    def backward(self, indexes, grad_outputs):
        gy, = grad_outputs
        gy = gy.array
        xp = backend.get_array_module(gy)
        shape = gy.shape[:-2] + (gy.shape[-2] * 2, gy.shape[-1] * 2)
        gx = _host_pool.empty(xp, shape, gy.dtype)
        quarter = gy * gy.dtype.type(0.25)
        for i in (0, 1):
            for j in (0, 1):
                gx[..., i::2, j::2] = quarter
        return chainer.Variable(gx),


def average_2x2(x):
    """Mean of each 2 x 2 block of the last two axes of ``x`` [..., 2H, 2W]
    (Variable or array); returns a Variable [..., H, W]."""
    y, = Average2x2().apply((x,))
    return y
