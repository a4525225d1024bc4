"""Rasterization with the approximate gradient of Kato et al. (sec. 3).

Forward is a standard z-buffer rasterizer; backward gives the screen x and y
of the vertices the paper's linear-ramp gradient, and depth and textures
their exact gradients. All the work happens in the kernels of
``kernels/rasterize.cuh`` (one source for CPU and GPU).

Coordinates: ``faces`` are [B, F, 3, 3] screen-space triangles, x and y in
NDC [-1, 1] (y up, each axis spanning the image whatever its aspect) and z
the camera depth. Front faces are counter-clockwise. Images are row 0 = top.
"""
import numbers
import os

import numpy

import chainer
from chainer import backend
import chainer.functions as F
from chainer import function_node
from chainer.utils import type_check

from neural_renderer import _host_pool
from neural_renderer import _launcher
from neural_renderer._checks import unwrap
from neural_renderer.average_2x2 import average_2x2
from neural_renderer.mipmap import add_level_gradients
from neural_renderer.mipmap import build_levels
from neural_renderer.mipmap import level_shapes
from neural_renderer import uv_texture as _uv

_EMPTY_KEY = numpy.uint64(0xFFFFFFFFFFFFFFFF)
DEFAULT_IMAGE_SIZE = 256
DEFAULT_ANTI_ALIASING = True
DEFAULT_NEAR = 0.1
DEFAULT_FAR = 100
DEFAULT_EPS = 1e-4
DEFAULT_BACKGROUND_COLOR = (0, 0, 0)


class _UVSampler(object):
    """How the kernels read a UV texture: its image's batch (B or 1), size,
    mip levels and wrapping (see ``UVMap`` in kernels/common.cuh)."""

    def __init__(self, image_batch, height, width, levels, repeat):
        self.image_batch = image_batch
        self.height = height
        self.width = width
        self.levels = levels
        self.repeat = repeat
        #: Sizes of the levels, level 0 (the image) first.
        self.shapes = level_shapes(height, width, levels)
        #: Rows of all levels, and texels of levels 1.. (per image).
        self.rows = sum(h for h, _ in self.shapes)
        self.coarse_texels = sum(h * w for h, w in self.shapes[1:])

    def coarse_of(self, image):
        """The mip levels 1.. of image [Bi, H, W, 3] (an array):
        [Bi, Pc, 3], Pc = 0 with one level."""
        if self.levels == 1:
            xp = backend.get_array_module(image)
            return xp.empty((image.shape[0], 0, 3), image.dtype)
        return build_levels(image, self.shapes, self.repeat)

    def kernel_args(self, uvs, image, coarse):
        return dict(uvs=uvs, uv_image=image, uv_coarse=coarse,
                    uv_image_batch=self.image_batch, uv_height=self.height,
                    uv_width=self.width, uv_levels=self.levels,
                    uv_repeat=int(self.repeat))


# The UV arguments of the kernels for texel cubes or no textures.
_NO_UV = dict(uvs=None, uv_image=None, uv_coarse=None, uv_image_batch=1,
              uv_height=1, uv_width=1, uv_levels=1, uv_repeat=0)


def _expect_light(light_type, faces_type):
    type_check.expect(
        light_type.dtype == faces_type.dtype,
        light_type.ndim == 3,
        light_type.shape[0] == faces_type.shape[0],
        light_type.shape[1] == faces_type.shape[1],
        light_type.shape[2] == 3,
    )


class RasterizeFunction(function_node.FunctionNode):
    """Rasterizes faces into rgb, alpha and depth maps in one pass.

    The node behind :func:`rasterize_rgbad` (images row 0 = top, rgb
    channels first); :class:`Rasterize` is the original package's
    interface to it.

    Inputs: ``faces`` [B, F, 3, 3], optionally ``textures``
    [B, Ft, T, T, T, 3] and then optionally ``light`` [B, F, 3], all of one
    float dtype. The front faces are faces 0..Ff-1: Ff is F, or with
    ``fill_back`` F / 2, faces F/2..F-1 being then the reversed copies [v2,
    v1, v0] of faces 0..F/2-1, which sample the cube of their original face
    with reversed weights, as the cube with axes 0 and 2 swapped would. Ft
    is Ff, or with ``source_weights`` (clipped faces, see
    :func:`neural_renderer.clip_faces`) a divisor of Ff: front face f
    samples cube f % Ft at its weights mapped by ``source_weights[:, f]``.
    ``light`` multiplies each face's sampled colour (flat lighting).
    Outputs: ``(rgb, alpha, depth)`` with textures, ``(alpha, depth)``
    without; rgb [B, 3, H, W], alpha and depth [B, H, W].

    With ``uv`` (a UV texture, see :mod:`neural_renderer.uv_texture`) the
    inputs are ``faces``, ``uvs`` [B, Ft, 3, 2] (Ft as for cubes), the
    image [Bi, H, W, 3] and optionally ``light``; the image's mip levels
    are built in the forward pass (:mod:`neural_renderer.mipmap`), and
    their gradient goes to the image's in place.

    Args:
        image_height, image_width (int): output size in pixels.
        near, far (float): depth range drawn, exclusive.
        eps (float): added to the distance (NDC) between an edge and a
            pixel centre, away from the edge, in the approximate gradient
            (the original's formula), so that centres lying on an edge give
            finite gradients.
        background_color (array): [B, 3] colour where no face is drawn.
        fill_back (bool): see above.
        source_weights (array): None, or [B, Ff, 3, 3] of the faces' dtype
            (row k: front face vertex k's barycentric weights on the face
            whose cube it samples); a constant, without gradient.
        uv (_UVSampler): None for cubes, else the UV texture's layout.
    """

    def __init__(self, image_height, image_width, near, far, eps,
                 background_color, fill_back=False, source_weights=None,
                 uv=None):
        self.uv = uv
        self.image_height = image_height
        self.image_width = image_width
        self.near = near
        self.far = far
        self.eps = eps
        self.background_color = background_color
        self.fill_back = fill_back
        self.source_weights = source_weights

    def check_type_forward(self, in_types):
        if self.uv is not None:
            self._check_uv_types(in_types)
            return
        type_check._argname(in_types,
                            ('faces', 'textures', 'light')[:len(in_types)])
        faces_type = in_types[0]
        type_check.expect(
            faces_type.dtype.kind == 'f',
            faces_type.ndim == 4,
            faces_type.shape[2] == 3,
            faces_type.shape[3] == 3,
        )
        if len(in_types) >= 2:
            textures_type = in_types[1]
            type_check.expect(
                textures_type.dtype == faces_type.dtype,
                textures_type.ndim == 6,
                textures_type.shape[0] == faces_type.shape[0],
                textures_type.shape[2] == textures_type.shape[3],
                textures_type.shape[2] == textures_type.shape[4],
                textures_type.shape[5] == 3,
            )
            self._check_texture_faces('textures', faces_type, textures_type)
        if len(in_types) == 3:
            _expect_light(in_types[2], faces_type)

    def _check_texture_faces(self, name, faces_type, texture_type):
        """Texture faces Ft (texture_type.shape[1]) for F faces: Ff (F, or
        F / 2 with fill_back), or with source_weights a divisor of Ff."""
        num_faces = type_check.eval(faces_type.shape[1])
        texture_faces = type_check.eval(texture_type.shape[1])
        front = num_faces // 2 if self.fill_back else num_faces
        if self.source_weights is None:
            valid = texture_faces == front
        else:
            valid = 0 < texture_faces and front % texture_faces == 0
        if not valid:
            raise type_check.InvalidType(
                '{}.shape[1] {} F{}'.format(
                    name, '== ' if self.source_weights is None
                    else 'divides', ' / 2 (fill_back)'
                    if self.fill_back else ''),
                '{}.shape[1] = {}, F = {}'.format(name, texture_faces,
                                                  num_faces))

    def _check_uv_types(self, in_types):
        type_check._argname(in_types, ('faces', 'uvs', 'uv_image',
                                       'light')[:len(in_types)])
        type_check.expect(in_types.size() >= 3)
        faces_type, uvs_type, image_type = in_types[:3]
        type_check.expect(
            faces_type.dtype.kind == 'f',
            faces_type.ndim == 4,
            faces_type.shape[2] == 3,
            faces_type.shape[3] == 3,
            uvs_type.dtype == faces_type.dtype,
            uvs_type.ndim == 4,
            uvs_type.shape[0] == faces_type.shape[0],
            uvs_type.shape[2] == 3,
            uvs_type.shape[3] == 2,
            image_type.dtype == faces_type.dtype,
            image_type.shape == (self.uv.image_batch, self.uv.height,
                                 self.uv.width, 3),
        )
        self._check_texture_faces('uvs', faces_type, uvs_type)
        if in_types.size() == 4:
            _expect_light(in_types[3], faces_type)

    def _split(self, inputs):
        """(faces, textures, uv arguments of the kernels, light) of the
        input arrays, C-contiguous (textures and light None when absent).
        """
        xp = backend.get_array_module(inputs[0])
        inputs = tuple(xp.ascontiguousarray(x) for x in inputs)
        if self.uv is None:
            faces, textures, light = (inputs + (None, None))[:3]
            return faces, textures, _NO_UV, light
        faces, uvs, image, light = (inputs + (None,))[:4]
        return faces, None, self.uv.kernel_args(uvs, image,
                                                self.coarse), light

    def forward(self, inputs):
        if self.uv is not None:
            self.coarse = self.uv.coarse_of(inputs[2])
        faces, textures, uv_args, light = self._split(inputs)
        face_index, rgb, alpha, depth = _draw(
            faces, textures, light, self.image_height, self.image_width, 1,
            self.near, self.far, self.background_color, True, True, True,
            self.fill_back, self.source_weights, uv_args)
        self.face_index = face_index
        self.retain_inputs(tuple(range(len(inputs))))
        if textures is None and uv_args['uvs'] is None:
            self.retain_outputs((0, 1))
            return alpha, depth
        self.retain_outputs((0, 1, 2))
        return rgb, alpha, depth

    def backward(self, indexes, grad_outputs):
        inputs = self.get_retained_inputs()
        outputs = self.get_retained_outputs()
        faces, textures, uv_args, light = self._split(
            [x.array for x in inputs])
        xp = backend.get_array_module(faces)
        dtype = faces.dtype
        uvs, image, coarse = (uv_args[key] for key in
                              ('uvs', 'uv_image', 'uv_coarse'))
        if len(inputs) >= 2:
            rgb, alpha, depth = [o.array for o in outputs]
            grad_rgb, grad_alpha, grad_depth = grad_outputs
        else:
            rgb = None
            alpha, depth = [o.array for o in outputs]
            grad_rgb = None
            grad_alpha, grad_depth = grad_outputs

        def contiguous(grad):
            return None if grad is None else xp.ascontiguousarray(
                grad.array, dtype=dtype)

        grad_rgb, grad_alpha, grad_depth = map(
            contiguous, (grad_rgb, grad_alpha, grad_depth))
        batch_size, num_faces = faces.shape[:2]
        height, width = self.image_height, self.image_width
        texture_size = 0 if textures is None else textures.shape[2]
        texture_faces = _texture_faces(textures, uv_args, num_faces)
        front_faces = num_faces // 2 if self.fill_back else num_faces
        textured = textures is not None or uvs is not None
        source_weights = self.source_weights if textured else None

        grad_faces = xp.zeros_like(faces)
        grad_textures = grad_light = grad_uvs = grad_image = None
        grad_coarse = None
        if textures is not None:
            grad_textures = xp.zeros_like(textures)
        if uvs is not None:
            grad_uvs = xp.zeros_like(uvs)
            grad_image = xp.zeros_like(image)
            grad_coarse = xp.zeros_like(coarse)
        if light is not None:
            grad_light = xp.zeros_like(light)
        with_rgb = grad_rgb is not None
        _launcher.launch(
            'backward_face_pixels', batch_size * texture_faces, dtype,
            faces=faces, textures=textures, source_weights=source_weights,
            light=light, face_index=self.face_index, grad_rgb=grad_rgb,
            grad_depth=grad_depth, num_faces=num_faces,
            front_faces=front_faces, texture_faces=texture_faces,
            height=height, width=width, texture_size=texture_size,
            near=self.near, far=self.far, grad_faces=grad_faces,
            grad_textures=grad_textures if with_rgb else None,
            grad_uvs=grad_uvs if with_rgb else None,
            grad_light=grad_light if with_rgb else None, **uv_args)
        if with_rgb and uvs is not None and 2 in indexes:
            _uv_image_gradient(
                faces, source_weights, light, self.face_index, grad_rgb,
                front_faces, texture_faces, self.uv, uv_args, grad_image,
                grad_coarse)
            if self.uv.levels > 1:
                add_level_gradients(grad_coarse, grad_image, self.uv.shapes,
                                    self.uv.repeat)
        if grad_rgb is not None or grad_alpha is not None:
            # Per pixel line, what the edge scans read, each value in its own
            # contiguous plane: backward_edges then streams along rows and
            # columns alike.
            row_count, column_count = _launcher.edge_plane_counts(
                with_rgb, grad_alpha is not None)
            tile = _launcher.EDGE_PLANES_TILE
            column_stride = _launcher.edge_column_stride(height)
            # One allocation for both.
            split = batch_size * height * row_count * width
            planes = _host_pool.empty(
                xp, split + batch_size * width * column_count *
                column_stride, dtype)
            row_planes, column_planes = planes[:split], planes[split:]
            _launcher.launch(
                'pack_edge_planes', batch_size * (-(-width // tile)) * height,
                dtype, rgb=rgb, alpha=alpha, grad_rgb=grad_rgb,
                grad_alpha=grad_alpha, height=height, width=width,
                column_stride=column_stride, row_planes=row_planes,
                column_planes=column_planes)
            edge_uv_args = uv_args if with_rgb else _NO_UV
            _launcher.launch(
                'backward_edges', batch_size * num_faces, dtype, faces=faces,
                textures=textures if with_rgb else None,
                source_weights=source_weights if with_rgb else None,
                light=light, face_index=self.face_index, rgb=rgb,
                alpha=alpha, grad_rgb=grad_rgb, grad_alpha=grad_alpha,
                row_planes=row_planes, column_planes=column_planes,
                column_stride=column_stride, num_faces=num_faces,
                front_faces=front_faces, texture_faces=texture_faces,
                height=height, width=width,
                texture_size=texture_size, near=self.near, far=self.far,
                eps=self.eps, grad_faces=grad_faces, **edge_uv_args)
        result = [chainer.Variable(grad_faces)]
        if textures is not None:
            result.append(chainer.Variable(grad_textures))
        if uvs is not None:
            result += [chainer.Variable(g) for g in (grad_uvs, grad_image)]
        if light is not None:
            result.append(chainer.Variable(grad_light))
        return tuple(result[i] for i in indexes)


def _texture_faces(textures, uv_args, num_faces):
    """Ft: the texel cubes' or the uvs' faces, else (no texture) F."""
    if textures is not None:
        return textures.shape[1]
    if uv_args['uvs'] is not None:
        return uv_args['uvs'].shape[1]
    return num_faces


def _uv_image_gradient(faces, source_weights, light, face_index, grad_rgb,
                       front_faces, texture_faces, uv, uv_args, grad_image,
                       grad_coarse):
    """Adds to grad_image [Bi, H, W, 3] and grad_coarse [Bi, Pc, 3] the
    gradient of a UV texture's image and mip levels: every sample's
    bilinear taps, summed per pyramid row in a fixed order (uv_image_rows,
    a stable sort by row, uv_image_gradient).
    """
    xp = backend.get_array_module(faces)
    batch_size, num_faces = faces.shape[:2]
    height, width = face_index.shape[1:]
    samples = batch_size * height * width
    buckets_count = uv.image_batch * uv.rows + 1
    common = dict(faces=faces, source_weights=source_weights, light=light,
                  face_index=face_index, grad_rgb=grad_rgb,
                  num_faces=num_faces, front_faces=front_faces,
                  texture_faces=texture_faces, height=height, width=width,
                  uv_rows=uv.rows, **uv_args)
    buckets = _host_pool.empty(xp, (samples,), numpy.int32)
    _launcher.launch('uv_image_rows', samples, faces.dtype, buckets=buckets,
                     **common)
    order, starts = _stable_order(buckets, buckets_count)
    _launcher.launch('uv_image_gradient', uv.image_batch * uv.rows,
                     faces.dtype, order=order, starts=starts,
                     grad_image=grad_image, grad_coarse=grad_coarse,
                     **common)


# Runs of samples the counting sort of _stable_order splits the samples
# into: about this many samples each, at most _SORT_CHUNKS of them (their
# counts take chunks x buckets integers).
_SORT_CHUNK_SAMPLES = 1 << 16
_SORT_CHUNKS = 256


def _stable_order(buckets, buckets_count):
    """(order, starts): the indices of ``buckets`` [N] int32 (values in
    [0, buckets_count)) sorted by bucket, stably, [N] int64, and where each
    bucket's run starts, [buckets_count + 1] int64. A counting sort by the
    kernels bucket_counts and bucket_order over runs of the samples."""
    xp = backend.get_array_module(buckets)
    samples = buckets.size
    chunks = max(1, min(_SORT_CHUNKS, samples // _SORT_CHUNK_SAMPLES,
                        (64 << 20) // (8 * buckets_count)))
    counts = xp.zeros((chunks, buckets_count), numpy.int64)
    _launcher.launch('bucket_counts', chunks, numpy.float32,
                     buckets=buckets, samples=samples,
                     num_buckets=buckets_count, counts=counts)
    totals = counts.sum(axis=0)
    starts = xp.zeros(buckets_count + 1, numpy.int64)
    xp.cumsum(totals, out=starts[1:])
    # Chunk c's first place in bucket k: the bucket's start and the
    # samples of earlier chunks in it.
    offsets = xp.cumsum(counts, axis=0)
    offsets -= counts
    offsets += starts[None, :-1]
    order = _host_pool.empty(xp, (samples,), numpy.int64)
    _launcher.launch('bucket_order', chunks, numpy.float32,
                     buckets=buckets, samples=samples,
                     num_buckets=buckets_count, offsets=offsets, order=order)
    return order, starts


def _draw(faces, textures, light, height, width, scale, near, far,
          background_color, return_rgb, return_alpha, return_depth,
          fill_back=False, source_weights=None, uv_args=_NO_UV):
    """Both forward kernels on raw arrays: the z-buffer of a height x width
    sample grid, then the maps of (height / scale) x (width / scale) pixels,
    each the mean of its scale x scale samples.

    ``uv_args``: the kernels' UV arguments (_UVSampler.kernel_args) for a
    UV texture (``textures`` then None), else _NO_UV.

    Returns (face_index, rgb, alpha, depth): face_index [B, height, width]
    int32 for scale 1, else None; rgb [B, 3, H, W] (None without textures
    or not asked for), alpha and depth [B, H, W] (None when not asked for).
    """
    xp = backend.get_array_module(faces)
    faces = xp.ascontiguousarray(faces)
    dtype = faces.dtype
    batch_size, num_faces = faces.shape[:2]
    texture_size = 0 if textures is None else textures.shape[2]
    texture_faces = _texture_faces(textures, uv_args, num_faces)
    zbuffer = xp.full((batch_size, height, width), _EMPTY_KEY,
                      dtype=numpy.uint64)
    _launcher.launch('rasterize_faces', batch_size * num_faces, dtype,
                     faces=faces, num_faces=num_faces, height=height,
                     width=width, near=near, far=far, zbuffer=zbuffer)
    out_shape = (batch_size, height // scale, width // scale)
    face_index = _host_pool.empty(xp, (batch_size, height, width),
                                  numpy.int32) \
        if scale == 1 else None
    alpha = _host_pool.empty(xp, out_shape, dtype) if return_alpha else None
    depth = _host_pool.empty(xp, out_shape, dtype) if return_depth else None
    rgb = background = None
    if (textures is not None or uv_args['uvs'] is not None) and return_rgb:
        if textures is not None:
            textures = xp.ascontiguousarray(textures)
        light = None if light is None else xp.ascontiguousarray(light)
        rgb = _host_pool.empty(xp, (batch_size, 3) + out_shape[1:], dtype)
        background = xp.ascontiguousarray(
            xp.asarray(background_color, dtype=dtype))
    else:
        textures = light = source_weights = None
        texture_size = 0
        uv_args = _NO_UV
    _launcher.launch(
        'resolve_pixels', out_shape[0] * out_shape[1] * out_shape[2], dtype,
        faces=faces, textures=textures, source_weights=source_weights,
        light=light, zbuffer=zbuffer, background=background,
        num_faces=num_faces, front_faces=num_faces // 2 if fill_back
        else num_faces, texture_faces=texture_faces, height=height,
        width=width, texture_size=texture_size, scale=scale, far=far,
        face_index=face_index, rgb=rgb, alpha=alpha, depth_map=depth,
        **uv_args)
    return face_index, rgb, alpha, depth


def _needs_graph(*inputs):
    """Whether a backward pass may follow: backprop is on and an input is a
    Variable that requires its gradient."""
    return chainer.config.enable_backprop and any(
        isinstance(x, chainer.Variable) and x.requires_grad for x in inputs)


def image_shape(image_size):
    """``image_size`` as (height, width): an int S is (S, S)."""
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError('image_size must be an int or a (height, width) '
                             'pair, got {!r}'.format(image_size))
        height, width = image_size
    else:
        height = width = image_size
    for value in (height, width):
        if isinstance(value, bool) or not isinstance(
                value, (int, numpy.integer)):
            raise TypeError('image_size must be a positive int or a (height, '
                            'width) pair of ints, got {!r}'.format(image_size))
        if value <= 0:
            raise ValueError('image_size must be positive, got {!r}'.format(
                image_size))
    return int(height), int(width)


def _available_host_memory():
    """Bytes this process can still allocate on the host: MemAvailable of
    /proc/meminfo (else the physical memory), capped by a cgroup v2 limit and
    by RLIMIT_AS where they are set; None when nothing is known."""
    limits = []
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    if not limits:
        try:
            limits.append(os.sysconf('SC_PHYS_PAGES') *
                          os.sysconf('SC_PAGE_SIZE'))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        with open('/sys/fs/cgroup/memory.max') as f:
            maximum = f.read().strip()
        with open('/sys/fs/cgroup/memory.current') as f:
            current = int(f.read())
        if maximum != 'max':
            limits.append(int(maximum) - current)
    except (OSError, ValueError):
        pass
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open('/proc/self/statm') as f:
                used = int(f.read().split()[0]) * os.sysconf('SC_PAGE_SIZE')
            limits.append(soft - used)
    except (ImportError, OSError, ValueError, AttributeError):
        pass
    return min(limits) if limits else None


def _available_memory(xp):
    if xp is numpy:
        return _available_host_memory()
    import cupy
    free = cupy.cuda.runtime.memGetInfo()[0]
    return free + cupy.get_default_memory_pool().free_bytes()


def memory_estimate(batch_size, image_size, anti_aliasing=True,
                    dtype=numpy.float32, return_rgb=True, return_alpha=True,
                    return_depth=True, differentiable=True):
    """Bytes of image-sized buffers one :func:`rasterize_rgbad` call needs at
    its peak: the forward pass, and with ``differentiable`` its backward
    pass too (which needs the most). Per-face buffers (small next to these
    for images of ordinary sizes) are not counted.

    Per sample of the (2x with anti-aliasing) grid, forward: the z-buffer
    key (8 bytes), the face index (4) and the 2x maps (alpha, depth and, for
    rgb, 3 colours); backward: the face index, the 2x maps and their
    gradients, and the edge scans' planes (``NR_*_PLANES`` of
    ``kernels/common.cuh``); with anti-aliasing, plus the averaged maps
    asked for and their gradients.

    Returns:
        int: bytes.
    """
    height, width = image_shape(image_size)
    itemsize = numpy.dtype(dtype).itemsize
    scale = 2 if anti_aliasing else 1
    samples = batch_size * height * width * scale * scale
    pixels = batch_size * height * width
    asked = 3 * bool(return_rgb) + bool(return_alpha) + bool(return_depth)
    if not differentiable:
        return samples * 8 + pixels * asked * itemsize
    maps = 2 + (3 if return_rgb else 0)
    forward = samples * (8 + 4 + maps * itemsize)
    row_count, column_count = _launcher.edge_plane_counts(return_rgb,
                                                          return_alpha)
    planes = (row_count + column_count * _launcher.edge_column_stride(
        height * scale) / (height * scale)) * itemsize
    backward = samples * (4 + 2 * maps * itemsize + planes)
    # With anti-aliasing, the averaged maps and their gradients on top.
    averaged = 2 * pixels * asked * itemsize if anti_aliasing else 0
    return int(max(forward, backward) + averaged)


# Below this many bytes the check is skipped: asking the system costs more
# than rendering a small image.
_MEMORY_CHECK_THRESHOLD = 64 << 20


def _check_memory(xp, needed, batch_size, height, width):
    if needed < _MEMORY_CHECK_THRESHOLD:
        return
    limit = _available_memory(xp)
    if limit is not None and needed > limit:
        raise ValueError(
            'image_size {}x{} with batch size {} needs about {:.1f} GiB for '
            'the rasterizer buffers (forward and backward), more than the '
            '{:.1f} GiB this process can still allocate on this device'
            .format(height, width, batch_size, needed / 2 ** 30,
                    max(limit, 0) / 2 ** 30))


def _check_inputs(faces, textures, light=None, fill_back=False,
                  source_weights=None):
    faces_array = unwrap(faces)
    if not hasattr(faces_array, 'ndim'):
        raise TypeError('faces must be an array or chainer.Variable of shape '
                        '[B, F, 3, 3], got {}'.format(type(faces).__name__))
    if faces_array.ndim != 4 or faces_array.shape[2:] != (3, 3):
        raise ValueError('faces must have shape [B, F, 3, 3] (batch, faces, '
                         'vertices, xyz), got {}'.format(faces_array.shape))
    if faces_array.dtype not in (numpy.float32, numpy.float64):
        raise TypeError('faces must be float32 or float64, got {}'.format(
            faces_array.dtype))
    if faces_array.shape[0] == 0:
        raise ValueError('faces: the batch is empty (shape {})'.format(
            faces_array.shape))
    if faces_array.shape[1] == 0:
        raise ValueError('faces: the mesh has no faces (shape {})'.format(
            faces_array.shape))
    if faces_array.shape[1] >= 2 ** 31:
        raise ValueError('faces: at most 2**31 - 1 faces per mesh')
    xp = backend.get_array_module(faces_array)
    if not bool(xp.isfinite(faces_array).all()):
        bad = backend.CpuDevice().send(
            ~xp.isfinite(faces_array).all(axis=(2, 3)))
        batch, face = [int(i[0]) for i in numpy.nonzero(bad)]
        raise ValueError(
            'faces contain NaN or inf coordinates ({} face(s), e.g. face {} '
            'of batch item {}); expected finite screen coordinates (x, y in '
            'NDC, z the depth)'.format(int(bad.sum()), face, batch))
    if textures is None:
        return faces_array
    num_faces = faces_array.shape[1]
    if fill_back and num_faces % 2:
        raise ValueError('faces: with fill_back=True the faces must be the '
                         'faces then their reversed copies (an even number), '
                         'got {}'.format(num_faces))
    front_faces = num_faces // 2 if fill_back else num_faces
    if source_weights is not None:
        weights_shape = getattr(source_weights, 'shape', None)
        if weights_shape != (faces_array.shape[0], front_faces, 3, 3):
            raise ValueError(
                'source_weights must have shape [B, {}, 3, 3] = [{}, {}, 3, '
                '3], got {}'.format('F / 2' if fill_back else 'F',
                                    faces_array.shape[0], front_faces,
                                    weights_shape))
        if source_weights.dtype != faces_array.dtype:
            raise TypeError('source_weights must have the dtype of faces '
                            '({}), got {}'.format(faces_array.dtype,
                                                  source_weights.dtype))

    def texture_faces_ok(count):
        """Whether ``count`` texture faces serve the faces, and what was
        expected."""
        if source_weights is None:
            return count == front_faces, front_faces
        return (count > 0 and front_faces % count == 0,
                'a divisor of {}'.format(front_faces))

    if _uv.is_uv(textures):
        textures.check(faces_array.shape[0], texture_faces_ok,
                       faces_array.dtype, xp)
    else:
        textures_array = unwrap(textures)
        if not hasattr(textures_array, 'ndim'):
            raise TypeError('textures must be an array, a chainer.Variable '
                            'or a UVTexture, got {}'.format(
                                type(textures).__name__))
        shape = textures_array.shape
        texture_ok = len(shape) > 1 and texture_faces_ok(shape[1])[0]
        if (textures_array.ndim != 6 or shape[0] != faces_array.shape[0] or
                not texture_ok or
                not shape[2] == shape[3] == shape[4] or shape[5] != 3 or
                shape[2] < 1):
            raise ValueError(
                'textures must have shape [B, {}, T, T, T, 3] = [{}, {}, T, '
                'T, T, 3] with T >= 1 to match faces{}, got {}'.format(
                    'F / 2' if fill_back else 'F', faces_array.shape[0],
                    texture_faces_ok(0)[1],
                    ' (fill_back)' if fill_back else '', shape))
        if textures_array.dtype != faces_array.dtype:
            raise TypeError('textures must have the dtype of faces ({}), got '
                            '{}'.format(faces_array.dtype,
                                        textures_array.dtype))
        if not bool(xp.isfinite(textures_array).all()):
            raise ValueError('textures contain NaN or inf values')
    if light is not None:
        light_array = unwrap(light)
        if getattr(light_array, 'shape', None) != faces_array.shape[:2] + (3,):
            raise ValueError('light must have shape [B, F, 3] = [{}, {}, 3], '
                             'got {}'.format(faces_array.shape[0], num_faces,
                                             getattr(light_array, 'shape',
                                                     type(light).__name__)))
        if light_array.dtype != faces_array.dtype:
            raise TypeError('light must have the dtype of faces ({}), got '
                            '{}'.format(faces_array.dtype, light_array.dtype))
        if not bool(xp.isfinite(light_array).all()):
            raise ValueError('light contains NaN or inf values')
    return faces_array


def _background(background_color, batch_size, dtype):
    try:
        background = numpy.asarray(
            chainer.backend.CpuDevice().send(background_color), dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError('background_color: expected 3 numbers (RGB in [0, '
                         '1]) or [B, 3], got {!r}'.format(
                             background_color)) from None
    if background.shape == (3,):
        background = numpy.broadcast_to(background, (batch_size, 3))
    if background.shape != (batch_size, 3):
        raise ValueError('background_color must have shape [3] or [B, 3] = '
                         '[{}, 3], got {}'.format(batch_size,
                                                  background.shape))
    if not numpy.isfinite(background).all():
        raise ValueError('background_color must be finite')
    return numpy.ascontiguousarray(background)


def _supersampling_scale(faces, faces_array, height, width, in_graph):
    """Faces with x scaled by (2W - 1) / (2W - 2) and y by (2H - 1) /
    (2H - 2), as the original package scales them before rasterizing at
    2H x 2W: the outermost sample centres of the fine grid then fall on the
    outermost pixel centres of the H x W image. z is left as it is (the
    original scales it too, which made anti-aliased depth too large by the
    same factor). A side of 1 pixel keeps its scale. Returns the scaled
    faces: a Variable in the graph when ``faces`` is a Variable and
    ``in_graph``, else an array."""
    def factor(size):
        return (2. * size - 1) / (2. * size - 2) if size > 1 else 1.
    xp = backend.get_array_module(faces_array)
    scale = xp.asarray([factor(width), factor(height), 1.],
                       faces_array.dtype)
    if in_graph and isinstance(faces, chainer.Variable):
        return faces * scale
    return faces_array * scale


def rasterize_rgbad(faces, textures=None, image_size=DEFAULT_IMAGE_SIZE,
                    anti_aliasing=DEFAULT_ANTI_ALIASING, near=DEFAULT_NEAR,
                    far=DEFAULT_FAR, eps=DEFAULT_EPS,
                    background_color=DEFAULT_BACKGROUND_COLOR,
                    return_rgb=True, return_alpha=True, return_depth=True,
                    light=None, fill_back=False, source_weights=None):
    """Rasterizes faces into rgb, alpha and depth images from one pass.

    Args:
        faces (Variable or array): [B, F, 3, 3] float32/float64 screen-space
            faces (x, y NDC, y up; z camera depth).
        textures (Variable or array, or UVTexture): [B, F, T, T, T, 3]
            per-face texel cubes, same dtype; needed for rgb. With
            ``fill_back``, [B, F/2, T, T, T, 3]: one cube serves a face and
            its reversed copy. Or a :class:`neural_renderer.UVTexture`
            (uvs [B, F, 3, 2], F / 2 with ``fill_back`` as for cubes, and
            an image sampled at render time).
        image_size (int or (int, int)): S for S x S images, or (H, W).
        anti_aliasing (bool): rasterize at 2x and average 2x2 blocks; as
            in the original, the faces' x and y are first scaled by
            (2S - 1) / (2S - 2) (S the side in pixels), which aligns the
            outermost samples of the 2x grid with the outermost pixel
            centres.
        near, far (float): depth range drawn (exclusive).
        eps (float): see :class:`RasterizeFunction`.
        background_color: [3] or [B, 3] colour of empty pixels.
        return_rgb, return_alpha, return_depth (bool): which maps to return.
        light (Variable or array): optional [B, F, 3] colour factor per face
            (flat lighting, see ``lighting.face_light``), applied to the
            sampled texel colour; differentiable.
        fill_back (bool): faces F/2..F-1 are the reversed copies [v2, v1,
            v0] of faces 0..F/2-1 (what the renderer's ``fill_back`` makes),
            and ``textures`` holds cubes for faces 0..F/2-1 only: a copy
            samples its original's cube with reversed weights, as the cube
            with axes 0 and 2 swapped would give.
        source_weights (array): None, or for faces clipped by
            :func:`neural_renderer.clip_faces` the weights it returns,
            [B, Ff, 3, 3] (Ff = F, or F / 2 with ``fill_back``): front face
            f then samples cube f % Ft (Ft = ``textures.shape[1]``, a
            divisor of Ff) at its weights times ``source_weights[:, f]``.

    Returns:
        dict: ``'rgb'`` [B, 3, H, W], ``'alpha'`` [B, H, W] and ``'depth'``
        [B, H, W] (``far`` on the background), each None when not asked for.
    """
    if return_rgb and textures is None:
        raise ValueError('textures are needed to return rgb images')
    if not return_rgb:
        source_weights = None
    faces_array = _check_inputs(faces, textures if return_rgb else None,
                                light if return_rgb else None, fill_back,
                                source_weights)
    if source_weights is not None:
        source_weights = backend.get_array_module(
            faces_array).ascontiguousarray(source_weights)
    height, width = image_shape(image_size)
    for name, value in (('near', near), ('far', far), ('eps', eps)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError('{}: expected a number, got {!r}'.format(
                name, value))
    if not (numpy.isfinite(near) and numpy.isfinite(far) and near < far):
        raise ValueError('near and far must be finite with near < far, got '
                         'near={}, far={}'.format(near, far))
    if not (numpy.isfinite(eps) and eps > 0):
        raise ValueError('eps must be positive, got {}'.format(eps))
    batch_size = faces_array.shape[0]
    dtype = faces_array.dtype
    xp = backend.get_array_module(faces_array)
    scale = 2 if anti_aliasing else 1
    uv = _uv.is_uv(textures) and return_rgb
    in_graph = _needs_graph(
        faces, *((textures.uvs, textures.image) if uv else
                 (textures if return_rgb else None,)),
        light if return_rgb else None)
    _check_memory(xp, memory_estimate(
        batch_size, (height, width), anti_aliasing, dtype, return_rgb,
        return_alpha, return_depth, in_graph), batch_size, height, width)
    background = _background(background_color, batch_size, dtype)
    if anti_aliasing:
        faces = _supersampling_scale(faces, faces_array, height, width,
                                     in_graph)
        faces_array = unwrap(faces)

    sampler = uv_inputs = None
    if uv:
        sampler, uv_inputs = _uv_inputs(textures, in_graph)
    if not in_graph:
        # Nothing will be differentiated: the kernels write the averaged
        # maps directly, without the 2x maps, the face indices and the
        # averaging passes.
        uv_args = _NO_UV
        if uv:
            uvs, image = (xp.ascontiguousarray(unwrap(x)) for x in uv_inputs)
            uv_args = sampler.kernel_args(uvs, image,
                                          sampler.coarse_of(image))
        _, rgb, alpha, depth = _draw(
            faces_array, unwrap(textures) if return_rgb and not uv else None,
            unwrap(light) if return_rgb else None, height * scale,
            width * scale, scale, float(near), float(far), background,
            return_rgb, return_alpha, return_depth, fill_back,
            source_weights, uv_args)
        return {key: None if value is None else chainer.Variable(
                    value, requires_grad=False)
                for key, value in (('rgb', rgb), ('alpha', alpha),
                                   ('depth', depth))}
    function = RasterizeFunction(height * scale, width * scale,
                                 float(near), float(far), float(eps),
                                 background, fill_back, source_weights,
                                 sampler)
    texture_inputs = uv_inputs if uv else (textures,)
    if return_rgb and light is not None:
        rgb, alpha, depth = function.apply(
            (faces,) + texture_inputs + (light,))
    elif return_rgb:
        rgb, alpha, depth = function.apply((faces,) + texture_inputs)
    else:
        rgb = None
        alpha, depth = function.apply((faces,))
    if anti_aliasing:
        # Only the maps asked for: each average is a pass over the 2x image.
        rgb = average_2x2(rgb) if return_rgb else None
        alpha = average_2x2(alpha) if return_alpha else None
        depth = average_2x2(depth) if return_depth else None
    return {
        'rgb': rgb if return_rgb else None,
        'alpha': alpha if return_alpha else None,
        'depth': depth if return_depth else None,
    }


def _uv_inputs(textures, in_graph):
    """(sampler, (uvs, image)) of a UVTexture for the rasterizer: Variables
    as given when ``in_graph``, else arrays."""
    uvs, image = textures.uvs, textures.image
    if not in_graph:
        uvs, image = unwrap(uvs), unwrap(image)
    batch, height, width = unwrap(image).shape[:3]
    levels = len(level_shapes(height, width)) if textures.mipmap else 1
    sampler = _UVSampler(batch, height, width, levels,
                         textures.wrapping == 'REPEAT')
    return sampler, (uvs, image)


def rasterize(faces, textures, image_size=DEFAULT_IMAGE_SIZE,
              anti_aliasing=DEFAULT_ANTI_ALIASING, near=DEFAULT_NEAR,
              far=DEFAULT_FAR, eps=DEFAULT_EPS,
              background_color=DEFAULT_BACKGROUND_COLOR):
    """RGB images [B, 3, H, W] of textured faces (see rasterize_rgbad)."""
    return rasterize_rgbad(faces, textures, image_size, anti_aliasing, near,
                           far, eps, background_color, True, False,
                           False)['rgb']


def rasterize_silhouettes(faces, image_size=DEFAULT_IMAGE_SIZE,
                          anti_aliasing=DEFAULT_ANTI_ALIASING,
                          near=DEFAULT_NEAR, far=DEFAULT_FAR,
                          eps=DEFAULT_EPS):
    """Alpha images [B, H, W]: 1 where a face is drawn (see
    rasterize_rgbad)."""
    return rasterize_rgbad(faces, None, image_size, anti_aliasing, near, far,
                           eps, return_rgb=False, return_alpha=True,
                           return_depth=False)['alpha']


def rasterize_depth(faces, image_size=DEFAULT_IMAGE_SIZE,
                    anti_aliasing=DEFAULT_ANTI_ALIASING, near=DEFAULT_NEAR,
                    far=DEFAULT_FAR, eps=DEFAULT_EPS):
    """Depth images [B, H, W], ``far`` on the background."""
    return rasterize_rgbad(faces, None, image_size, anti_aliasing, near, far,
                           eps, return_rgb=False, return_alpha=False,
                           return_depth=True)['depth']


# Set by use_unsafe_rasterizer; read by nothing (see there).
USE_UNSAFE_IMPLEMENTATION = False


def use_unsafe_rasterizer(flag=True):
    """Accepted for code written for the original package; changes nothing.

    The original offered a faster per-face forward kernel whose spin locks
    were unsafe on newer GPUs, and this switch to select it. Here there is
    one forward kernel, per face with an atomic 64-bit min over (depth,
    face index): as fast as the unsafe one was meant to be and safe, so the
    flag is only recorded (``rasterize.USE_UNSAFE_IMPLEMENTATION``).
    """
    global USE_UNSAFE_IMPLEMENTATION
    USE_UNSAFE_IMPLEMENTATION = bool(flag)


class Rasterize(object):
    """The original package's rasterizer call, for code written for it.

    ``Rasterize(image_size, near, far, eps, background_color,
    return_rgb=False, return_alpha=False, return_depth=False)(faces[,
    textures])`` returns ``(rgb, alpha, depth)`` in the original's layout:
    rows not flipped (row 0 is the bottom, NDC y = -1: callers flip with
    ``[:, ::-1]``), rgb channels last, no anti-aliasing (callers that
    super-sample render at 2S with faces scaled by (2S - 1) / (2S - 2), then
    flip and average, which is what :func:`rasterize_rgbad` does).
    Differentiable as :func:`rasterize_rgbad` (same kernels).

    Args:
        image_size (int or (int, int)): S (S x S pixels), or (H, W).
        near, far (float): depth range drawn (exclusive).
        eps (float): see :class:`RasterizeFunction`.
        background_color: [3] or [B, 3] colour of empty pixels.
        return_rgb, return_alpha, return_depth (bool): which maps to make.

    Call args: ``faces`` [B, F, 3, 3] screen-space faces; ``textures``
    [B, F, T, T, T, 3] (needed for rgb).

    Returns:
        tuple: rgb [B, H, W, 3], alpha [B, H, W], depth [B, H, W] (``far``
        on the background) as Variables; a map not asked for is None (the
        original returned a placeholder array).
    """

    def __init__(self, image_size, near, far, eps, background_color,
                 return_rgb=False, return_alpha=False, return_depth=False):
        self.image_size = image_size
        self.near = near
        self.far = far
        self.eps = eps
        self.background_color = background_color
        self.return_rgb = return_rgb
        self.return_alpha = return_alpha
        self.return_depth = return_depth

    def __call__(self, faces, textures=None):
        out = rasterize_rgbad(
            faces, textures, self.image_size, False, self.near, self.far,
            self.eps, self.background_color, bool(self.return_rgb),
            bool(self.return_alpha), bool(self.return_depth))
        rgb, alpha, depth = out['rgb'], out['alpha'], out['depth']
        if rgb is not None:
            rgb = F.transpose(F.flip(rgb, 2), (0, 2, 3, 1))
        if alpha is not None:
            alpha = F.flip(alpha, 1)
        if depth is not None:
            depth = F.flip(depth, 1)
        return rgb, alpha, depth
