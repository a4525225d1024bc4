"""The 2 x 2 block average that turns a 2x supersampled image into the
anti-aliased output."""
import numpy

import chainer
from chainer import backend
from chainer import function_node
from chainer.utils import type_check

from neural_renderer import _host_pool
from neural_renderer import _launcher


class Average2x2(function_node.FunctionNode):
    """[..., 2H, 2W] -> [..., H, W]: each output pixel is the mean of its
    2 x 2 block of samples, (((x00 + x10) + x01) + x11) / 4.

    The same as ``F.average_pooling_2d(x, 2, 2)`` on [B, C, 2H, 2W] images,
    for any number of leading axes, float32 or float64. Forward and backward
    are the kernels of ``kernels/average.cuh`` (one pass over the samples,
    threaded on the CPU; the rasterizer's forward-only path averages with
    the same arithmetic inside ``resolve_pixels``). The gradient is not
    itself differentiable.
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
        dtype = type_check.eval(x_type.dtype)
        if dtype not in (numpy.float32, numpy.float64):
            raise type_check.InvalidType('x.dtype in (float32, float64)',
                                         'x.dtype == {}'.format(dtype))

    def forward(self, inputs):
        x, = inputs
        xp = backend.get_array_module(x)
        x = xp.ascontiguousarray(x)
        height, width = x.shape[-2] // 2, x.shape[-1] // 2
        y = _host_pool.empty(xp, x.shape[:-2] + (height, width), x.dtype)
        _launcher.launch('average_2x2', y.size, x.dtype, x=x, width=width,
                         y=y)
        return y,

    def backward(self, indexes, grad_outputs):
        gy, = grad_outputs
        xp = backend.get_array_module(gy.array)
        gy = xp.ascontiguousarray(gy.array)
        shape = gy.shape[:-2] + (gy.shape[-2] * 2, gy.shape[-1] * 2)
        gx = _host_pool.empty(xp, shape, gy.dtype)
        _launcher.launch('average_2x2_backward', gx.size, gy.dtype, gy=gy,
                         width=shape[-1], gx=gx)
        return chainer.Variable(gx),


def average_2x2(x):
    """Mean of each 2 x 2 block of the last two axes of ``x`` [..., 2H, 2W]
    (Variable or array); returns a Variable [..., H, W]."""
    y, = Average2x2().apply((x,))
    return y
