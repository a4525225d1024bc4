"""Gathering per-face vertex coordinates."""
import numpy

import chainer
from chainer import backend
from chainer import function_node
from chainer.utils import type_check

from neural_renderer import _checks


class VerticesToFaces(function_node.FunctionNode):
    """Gathers the vertices of every face.

    Input: ``vertices`` [B, V, 3] float. ``flat_index`` [B * F * 3] int32
    or int64 (a constant, already checked to be in range) indexes the
    flattened [B * V, 3] vertex table: b * V + faces[b, f, k]. Output
    [B, F, 3, 3]. The gradient is one scatter-add (``numpy.bincount`` per
    coordinate on the CPU, several times faster than ``numpy.add.at``;
    ``add.at`` on the GPU); it is not itself differentiable.
    """

    def __init__(self, flat_index, num_faces):
        self.flat_index = flat_index
        self.num_faces = num_faces

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('vertices',))
        v_type, = in_types
        type_check.expect(
            v_type.dtype.kind == 'f',
            v_type.ndim == 3,
            v_type.shape[2] == 3,
        )

    def forward(self, inputs):
        vertices, = inputs
        self.vertices_shape = vertices.shape
        xp = backend.get_array_module(vertices)
        table = vertices.reshape(-1, 3)
        # take is several times faster than fancy indexing on the CPU.
        out = xp.take(table, self.flat_index, axis=0)
        return out.reshape(vertices.shape[0], self.num_faces, 3, 3),

    def backward(self, indexes, grad_outputs):
        gy = grad_outputs[0].array.reshape(-1, 3)
        xp = backend.get_array_module(gy)
        num_rows = self.vertices_shape[0] * self.vertices_shape[1]
        if xp is numpy:
            gx = numpy.empty((num_rows, 3), gy.dtype)
            for k in range(3):
                gx[:, k] = numpy.bincount(self.flat_index, gy[:, k],
                                          minlength=num_rows)
        else:
            gx = xp.zeros((num_rows, 3), gy.dtype)
            if hasattr(xp.add, 'at'):
                xp.add.at(gx, self.flat_index, gy)
            else:  # CuPy before ufunc.at
                import cupyx
                cupyx.scatter_add(gx, self.flat_index, gy)
        return chainer.Variable(gx.reshape(self.vertices_shape)),


def vertices_to_faces(vertices, faces):
    """Coordinates of every face's three vertices.

    Args:
        vertices: [B, V, 3] float array or Variable.
        faces: [B, F, 3] integer array (int32 as in the original; any
            integer dtype works) of indices into ``vertices``' second axis,
            each batch item indexing its own vertices. NumPy faces are sent
            to the device of ``vertices``.

    Returns:
        chainer.Variable [B, F, 3, 3]: ``out[b, f, k]`` is
        ``vertices[b, faces[b, f, k]]``. Differentiable w.r.t. ``vertices``
        (a vertex shared by several faces sums their gradients).

    Raises:
        ValueError: bad ranks or sizes, different batch sizes, or indices
            outside [0, V).
        TypeError: non-float ``vertices`` or non-integer ``faces``.
    """
    v_array = _checks.check_array('vertices', vertices, ndim=3,
                                  shape_suffix=(3,))
    f_array = _checks.check_array('faces', faces, ndim=3, shape_suffix=(3,),
                                  dtype_kind='iu')
    batch_size, num_vertices = v_array.shape[:2]
    if f_array.shape[0] != batch_size:
        raise ValueError(
            'faces: batch size {} differs from vertices\' batch size {}'
            .format(f_array.shape[0], batch_size))
    f_array = backend.get_device_from_array(v_array).send(f_array)
    xp = backend.get_array_module(f_array)
    if f_array.size:
        # One small reduction each; reading them back synchronises the GPU,
        # which is cheaper than debugging an out-of-bounds gather.
        low, high = int(f_array.min()), int(f_array.max())
        if low < 0 or high >= num_vertices:
            raise ValueError(
                'faces: indices must be in [0, V={}), got min {} and max {}'
                .format(num_vertices, low, high))
    # One gather over the batch: offset each item's indices into the
    # flattened [B * V, 3] vertex table.
    index_dtype = 'int32' if batch_size * num_vertices < 2 ** 31 else 'int64'
    offsets = xp.arange(batch_size, dtype=index_dtype) * num_vertices
    flat_index = (f_array.astype(index_dtype, copy=False)
                  + offsets[:, None, None]).ravel()
    faces_out, = VerticesToFaces(flat_index, f_array.shape[1]).apply(
        (vertices,))
    return faces_out
