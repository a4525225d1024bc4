"""Gathering per-face vertex coordinates."""
import chainer
from chainer import backend
import chainer.functions as F

from neural_renderer import _checks


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
    table = F.reshape(chainer.as_variable(vertices),
                      (batch_size * num_vertices, 3))
    # get_item's backward is one scatter-add (numpy.add.at / cupy
    # scatter_add); F.embed_id's CPU backward loops in Python.
    gathered = F.get_item(table, flat_index)
    return F.reshape(gathered, f_array.shape + (3,))
