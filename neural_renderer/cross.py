"""Cross product of 3D vectors along the last axis, as a FunctionNode.

The arithmetic is ``vector_math.cross``, which the package's other nodes
use too.
"""
import chainer
from chainer import function_node
from chainer.utils import type_check

from neural_renderer import vector_math


class Cross(function_node.FunctionNode):
    """y = x0 x x1, the cross product of 3D vectors along the last axis.

    Inputs: ``x0`` and ``x1`` [..., 3], the same shape and float dtype.
    Output: [..., 3] of the same shape and dtype.

    Backward: for a loss L with gy = dL/dy, L changes as
    gy . (x0 x x1) = x0 . (x1 x gy) = x1 . (gy x x0) (the scalar triple
    product is invariant under cyclic shifts), so gx0 = x1 x gy and
    gx1 = gy x x0. Both are computed with :func:`cross` itself, so the
    node is differentiable any number of times.
    """

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('x0', 'x1'))
        x0_type, x1_type = in_types
        type_check.expect(
            x0_type.dtype.kind == 'f',
            x1_type.dtype == x0_type.dtype,
            x0_type.ndim >= 1,
        )
        # Separately: shape[-1] of a 0-dim input would fail to evaluate.
        type_check.expect(
            x0_type.shape[-1] == 3,
            x1_type.shape == x0_type.shape,
        )

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        x0, x1 = inputs
        return vector_math.cross(x0, x1),

    def backward(self, indexes, grad_outputs):
        x0, x1 = self.get_retained_inputs()
        gy, = grad_outputs
        result = []
        if 0 in indexes:
            result.append(cross(x1, gy))
        if 1 in indexes:
            result.append(cross(gy, x0))
        return tuple(result)


def cross(x0, x1):
    """Cross product ``x0 x x1`` of 3D vectors along the last axis.

    The original package's ``neural_renderer.cross`` (there for [N, 3]
    inputs); any leading shape works here. Differentiable with respect to
    both inputs, also twice.

    Args:
        x0 (:class:`~chainer.Variable` or :ref:`ndarray`): [..., 3] float.
        x1 (:class:`~chainer.Variable` or :ref:`ndarray`): the same shape
            and dtype as ``x0``.

    Returns:
        ~chainer.Variable: [..., 3], of the inputs' dtype.

    .. admonition:: Example

        >>> x0 = numpy.array([[1, 0, 0]], numpy.float32)
        >>> x1 = numpy.array([[0, 1, 0]], numpy.float32)
        >>> neural_renderer.cross(x0, x1).array
        array([[0., 0., 1.]], dtype=float32)
    """
    for name, x in (('x0', x0), ('x1', x1)):
        array = x.array if isinstance(x, chainer.Variable) else x
        if not isinstance(array, chainer.get_array_types()):
            raise TypeError('{}: expected a float array or '
                            'chainer.Variable of shape [..., 3], got {}'
                            .format(name, type(x).__name__))
    y, = Cross().apply((x0, x1))
    return y
