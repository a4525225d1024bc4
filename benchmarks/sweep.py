"""Benchmark sweep of the renderer: writes results.csv and results.md.

Usage:
    python benchmarks/sweep.py --out benchmarks/results          # full
    python benchmarks/sweep.py --out benchmarks/results --quick  # ~10 min
    python benchmarks/sweep.py --out /tmp/smoke --smoke          # seconds
Restrict with --devices cpu,gpu --groups ... --sizes ... --meshes ...
--batches ... --implementations ...; --repeat N (median of N timed runs after
--warmup runs).

What runs (implementation column):
* ours: the package's Renderer (fill_back, lighting, look_at camera,
  perspective, rasterization, 2x2 pooling when anti-aliasing) on CPU and,
  where CuPy and a GPU exist, on the GPU.
* per-pixel (original): the same Renderer with its rasterization pass
  swapped for the original package's algorithm, one thread per pixel looping
  over every face (benchmarks/per_pixel_original.cuh, built at run time; see
  per_pixel.py). Forward only: the original's backward is not the subject.
* deodr: DEODR's CPU renderer on the same mesh, camera and image size
  (optional: pip install deodr; see deodr_bench.py for what differs).

Modes: rgbad (render_rgbad: rgb + alpha + depth from one pass), rgb
(render), silhouettes (render_silhouettes), depth (render_depth) and raster
(the rasterization pass alone: the z-buffer of (depth, face) keys from the
screen-space faces the renderer produced, i.e. one kernel launch plus the
z-buffer allocation: ours = the per-face rasterize_faces kernel, per-pixel =
the original's loop). Passes: forward (under chainer.no_backprop_mode) and
forward+backward (a fresh graph, then backward of sum(output * G) with a
fixed random G per output; gradients reach vertices and, for rgb, textures).

The sweep varies one factor at a time around a baseline (teapot, 256 x 256,
batch 1, anti-aliasing on, CPU), because the full cross product (up to 1M
faces x 1024^2 x batch 64 x ...) is infeasible on a CPU:
* baseline: teapot 256 b1, anti-aliasing on and off, every mode and pass;
* image size: teapot, 64 .. 1024;
* faces: teapot and geodesic spheres from 1,280 to 1,003,520 faces at 256;
* batch: teapot 256, batch 1, 8, 64;
* scaling: spheres of 1,280 and 128,000 faces (100x) at the same pose and
  screen area, 256: forward time should grow far less than 100x;
* large: a few large combinations (1M faces at 512 and 1024, teapot 1024 x
  batch 8, teapot 512 x batch 64);
* uv (issue 28): rgb with a UV texture (nr.UVTexture: a random float32
  image of 1024^2 or 4096^2 texels, cylindrical per-corner uvs, REPEAT,
  mipmap on; one image size without the pyramid) beside texel cubes: the
  default 4^3 and cubes of the same visual detail, T^2 ~ texels / faces
  (T = 22 for 1024^2, 86 for 4096^2 on the teapot), teapot 256 and 1024.
  Cubes that would not fit in memory are not run: their row gives the
  textures' bytes, F T^3 3 4, marked 'estimated'.
Configurations that would exceed the memory limit (--memory-fraction of
the available memory, estimated) or, for the per-pixel algorithm, the time
limit (--max-per-pixel-s per call, estimated from the measured rate of
face-pixel tests) are recorded as 'skipped (reason)', not run. A
configuration whose warm-up call takes longer than --max-call-s is timed by
that call alone; one slower than --slow-call-s gets 3 timed runs.

Times are wall-clock milliseconds, the median of the timed runs (GPU:
synchronised after each call). Peak memory comes from one more, untimed run:
host = tracemalloc's peak of traced allocations during the call above the
level before it (NumPy registers its buffers with tracemalloc; allocations
inside C/C++ code that bypass it, e.g. DEODR's internal buffers, are not
seen); device = growth of CuPy's default memory pool over the call, starting
from an emptied pool (the pool only grows when it cannot reuse a freed
block, so this is the high-water mark, rounded up to its blocks).
Per-pixel rows do not repeat the memory run (same buffers as ours).
"""
import argparse
import collections
import contextlib
import csv
import datetime
import os
import platform
import sys
import time
import tracemalloc

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import chainer  # noqa: E402
import chainer.functions as F  # noqa: E402

import neural_renderer as nr  # noqa: E402

import deodr_bench  # noqa: E402
import losses  # noqa: E402
import meshes  # noqa: E402
import per_pixel  # noqa: E402

OURS = 'ours'
PER_PIXEL = 'per-pixel (original)'
DEODR = 'deodr'
IMPLEMENTATIONS = (OURS, PER_PIXEL, DEODR)
IMPLEMENTATION_KEYS = {'ours': OURS, 'per-pixel': PER_PIXEL, 'deodr': DEODR}
MODES = ('rgbad', 'rgb', 'silhouettes', 'depth', 'raster') + losses.MODES
FORWARD = 'forward'
BACKWARD = 'forward+backward'
EYE = (2.732, 30, 45)  # distance, elevation, azimuth (degrees)

COLUMNS = ['groups', 'device', 'implementation', 'mode', 'pass', 'mesh',
           'faces', 'image_size', 'batch', 'anti_aliasing', 'texture_size',
           'runs', 'median_ms', 'min_ms', 'max_ms', 'peak_host_mib',
           'peak_device_mib', 'status', 'note']

# texture: '' = the default texel cubes (texture_size), 'cubeT' = cubes of
# T^3 texels, 'uvS' = a UV texture of S x S texels with mipmap,
# 'uvS-nomip' without (see parse_texture).
Config = collections.namedtuple(
    'Config', 'device implementation mode pass_ mesh size batch aa texture',
    defaults=('',))


def texture_size(num_faces):
    """Texel cube size: 4 (the examples') up to 100k faces, 2 above (a 1M
    face mesh with 4^3 texels would need 768 MiB of textures per image)."""
    return 4 if num_faces <= 100000 else 2


def parse_texture(spec, num_faces):
    """('cube', T, None) or ('uv', S, mipmap) of a Config's texture."""
    if not spec:
        return 'cube', texture_size(num_faces), None
    if spec.startswith('cube'):
        return 'cube', int(spec[4:]), None
    if spec.startswith('uv'):
        side, _, flag = spec[2:].partition('-')
        return 'uv', int(side), flag != 'nomip'
    raise ValueError('unknown texture {!r}'.format(spec))


def same_detail_cubes(side, num_faces):
    """'cubeT' with T^2 texels per face ~ an S x S image's texels per face
    (T = round(sqrt(S^2 / F)), F the mesh's faces, at least 1)."""
    return 'cube{}'.format(max(1, int(round(
        (side * side / float(num_faces)) ** 0.5))))


def texture_label(spec, num_faces):
    kind, size, mipmap = parse_texture(spec, num_faces)
    if kind == 'cube':
        return 'cubes {}^3{}'.format(size, '' if spec else ' (default)')
    return 'UV {}^2{}'.format(size, '' if mipmap else ', no mipmap')


def texels_per_face(spec, num_faces):
    """The detail of a texture: T^2 for cubes, S^2 / F for UV."""
    kind, size, _ = parse_texture(spec, num_faces)
    return size * size if kind == 'cube' else size * size / float(num_faces)


def cylindrical_uvs(vertices, faces):
    """[F, 3, 2] float32 per-corner uvs: the vertices projected on a
    cylinder around the y axis (u = azimuth / 2 pi, v = height over the
    mesh's span); a face across the seam gets u + 1 at its corners below
    0.5 (REPEAT wraps them), so that no face spans the whole image."""
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    u = numpy.arctan2(z, x) / (2 * numpy.pi) + 0.5
    v = (y - y.min()) / max(float(y.max() - y.min()), 1e-12)
    uvs = numpy.stack([u[faces], v[faces]], axis=-1)  # [F, 3, 2]
    across = (uvs[..., 0].max(1) - uvs[..., 0].min(1)) > 0.5
    low = across[:, None] & (uvs[..., 0] < 0.5)
    uvs[..., 0] += low
    return uvs.astype(numpy.float32)


# ----------------------------------------------------------------------------
# The plan: which configurations run, in which groups.

def _ours_modes(full_modes):
    return [(m, p) for m in full_modes
            for p in ((FORWARD,) if m in ('raster',) else (FORWARD, BACKWARD))]


def plan(args, device):
    """[(group, Config)] for one device, before de-duplication."""
    entries = []

    def add(group, implementation, modes_passes, meshes_, sizes, batches,
            aas):
        for mesh in meshes_:
            for size in sizes:
                for batch in batches:
                    for aa in aas:
                        for mode, pass_ in modes_passes:
                            entries.append((group, Config(
                                device, implementation, mode, pass_, mesh,
                                size, batch, aa)))

    def add_uv(size, textures, passes=(FORWARD, BACKWARD)):
        # Issue 28: rgb of the teapot with UV textures and with cubes.
        for texture in textures:
            for pass_ in passes:
                entries.append(('uv', Config(device, OURS, 'rgb', pass_,
                                             'teapot', size, 1, True,
                                             texture)))

    teapot_faces = meshes.num_faces('teapot')

    def uv_and_cubes(side):
        return ['uv{}'.format(side), same_detail_cubes(side, teapot_faces)]

    all_modes = _ours_modes(('rgbad', 'rgb', 'silhouettes', 'depth',
                             'raster'))
    three = _ours_modes(('rgb', 'silhouettes', 'depth'))
    deodr_modes = [(m, p) for m in ('rgb', 'silhouettes', 'depth')
                   for p in (FORWARD, BACKWARD)]
    pp_forward = [('rgbad', FORWARD), ('raster', FORWARD)]

    if args.smoke:
        # Every implementation, mode and pass once at tiny sizes, plus one
        # point of each other group: checks that the harness works.
        add('baseline', OURS, all_modes, ['teapot'], [32], [1],
            (True, False))
        add('baseline', PER_PIXEL, pp_forward, ['teapot'], [32], [1],
            (True, False))
        if device == 'cpu':
            add('baseline', DEODR, deodr_modes, ['teapot'], [32], [1],
                (True, False))
        add('image size', OURS, [('rgbad', FORWARD)], ['teapot'], [16, 32],
            [1], (True,))
        add('faces', OURS, [('rgbad', FORWARD), ('rgb', BACKWARD)],
            ['teapot', 'sphere2'], [32], [1], (True,))
        add('faces', PER_PIXEL, [('rgbad', FORWARD)], ['sphere2'], [32],
            [1], (True,))
        if device == 'cpu':
            add('faces', DEODR, [('rgb', FORWARD)], ['sphere2'], [32], [1],
                (True,))
        add('batch', OURS, [('rgbad', FORWARD), ('rgb', BACKWARD)],
            ['teapot'], [16], [2], (True,))
        add('scaling', OURS, [('rgbad', FORWARD)], ['sphere1', 'sphere10'],
            [32], [1], (True,))
        add('large', OURS, [('rgbad', FORWARD)], ['sphere20'], [64], [1],
            (True,))
        add('losses', OURS, [('example2-sqerr', BACKWARD),
                             ('example2-iou', BACKWARD)], ['teapot'], [32],
            [1], (True,))
        add('losses', OURS, [('recon-step', BACKWARD),
                             ('recon-renderer', BACKWARD)], ['template'],
            [32], [2], (True,))
        add_uv(32, [''] + uv_and_cubes(64))
        add_uv(32, ['uv64-nomip'], (FORWARD,))
        return entries

    quick = args.quick
    # Baseline: teapot, 256, batch 1, anti-aliasing on and off.
    add('baseline', OURS, all_modes, ['teapot'], [256], [1], (True, False))
    add('baseline', PER_PIXEL, pp_forward, ['teapot'], [256], [1],
        (True, False))
    if device == 'cpu':
        add('baseline', DEODR, deodr_modes, ['teapot'], [256], [1],
            (True, False))

    # The losses the examples train with (benchmarks/losses.py): example 2
    # at its 256 px, the reconstruction's training step at train.py's
    # defaults (batch 16, 64 px, two views) and its renderer part alone.
    add('losses', OURS, [('example2-sqerr', BACKWARD),
                         ('example2-iou', BACKWARD)], ['teapot'], [256], [1],
        (True,))
    add('losses', OURS, [('recon-step', BACKWARD),
                         ('recon-renderer', BACKWARD)], ['template'], [64],
        [16], (True,))

    # Image size.
    sizes = [64, 256, 1024] if quick else [64, 128, 256, 512, 1024]
    size_modes = ([('rgbad', FORWARD), ('rgb', BACKWARD),
                   ('silhouettes', BACKWARD), ('depth', BACKWARD)]
                  if quick else [('rgbad', FORWARD)] + three)
    add('image size', OURS, size_modes, ['teapot'], sizes, [1], (True,))
    add('image size', PER_PIXEL, [('rgbad', FORWARD)], ['teapot'], sizes,
        [1], (True,))
    if device == 'cpu':
        add('image size', DEODR, [('rgb', FORWARD), ('rgb', BACKWARD)],
            ['teapot'], sizes, [1], (True,))

    # Faces.
    face_meshes = (['teapot', 'sphere8', 'sphere32', 'sphere80', 'sphere224']
                   if quick else
                   ['teapot', 'sphere8', 'sphere16', 'sphere32', 'sphere64',
                    'sphere128', 'sphere224'])
    face_modes = ([('rgbad', FORWARD), ('rgb', BACKWARD),
                   ('silhouettes', BACKWARD)]
                  if quick else [('rgbad', FORWARD)] + three)
    add('faces', OURS, face_modes, face_meshes, [256], [1], (True,))
    add('faces', PER_PIXEL, [('rgbad', FORWARD)], face_meshes, [256], [1],
        (True,))
    if device == 'cpu':
        add('faces', DEODR, [('rgb', FORWARD), ('rgb', BACKWARD)],
            face_meshes, [256], [1], (True,))

    # Batch.
    batch_modes = ([('rgbad', FORWARD), ('rgb', BACKWARD)] if quick
                   else [('rgbad', FORWARD)] + three)
    add('batch', OURS, batch_modes, ['teapot'], [256], [1, 8, 64], (True,))
    add('batch', PER_PIXEL, [('rgbad', FORWARD)], ['teapot'], [256],
        [1, 8] if quick else [1, 8, 64], (True,))

    # Scaling: 100x more faces over the same screen area.
    add('scaling', OURS, [('rgbad', FORWARD), ('raster', FORWARD),
                          ('rgb', BACKWARD)],
        ['sphere8', 'sphere80'], [256], [1], (True,))
    add('scaling', PER_PIXEL, [('rgbad', FORWARD)], ['sphere8', 'sphere80'],
        [256], [1], (True,))

    # Large combinations.
    large_modes = [('rgbad', FORWARD), ('rgb', BACKWARD)]
    add('large', OURS, large_modes, ['sphere224'], [512] if quick
        else [512, 1024], [1], (True,))
    add('large', PER_PIXEL, [('rgbad', FORWARD)], ['sphere224'], [512], [1],
        (True,))
    if not quick:
        add('large', OURS, large_modes, ['sphere224'], [256], [8], (True,))
        add('large', OURS, large_modes, ['teapot'], [1024], [8], (True,))
        add('large', OURS, large_modes, ['teapot'], [512], [64], (True,))

    # UV textures (issue 28) beside the default cubes and cubes of the
    # same detail (not run, estimated, where they would not fit).
    if quick:
        add_uv(256, [''] + uv_and_cubes(1024))
        add_uv(256, ['uv1024-nomip'] + uv_and_cubes(4096), (FORWARD,))
    else:
        for size in (256, 1024):
            add_uv(size, [''] + uv_and_cubes(1024) + uv_and_cubes(4096))
        add_uv(256, ['uv1024-nomip'])
    return entries


def restrict(entries, args):
    def keep(config):
        if args.sizes and config.size not in args.sizes:
            return False
        if args.meshes and config.mesh not in args.meshes:
            return False
        if args.batches and config.batch not in args.batches:
            return False
        if args.implementations and \
                config.implementation not in args.implementations:
            return False
        if args.modes and config.mode not in args.modes:
            return False
        return True
    return [(g, c) for g, c in entries
            if keep(c) and (not args.groups or g in args.groups)]


# ----------------------------------------------------------------------------
# Devices.

def gpu_status():
    """(cupy module or None, reason when None)."""
    try:
        import cupy
    except Exception:
        return None, 'no GPU here: cupy not installed'
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, 'no GPU here'
    except Exception as error:
        return None, 'no GPU here ({})'.format(
            str(error).splitlines()[0][:80])
    return cupy, None


class Device(object):
    def __init__(self, name, xp):
        self.name = name
        self.xp = xp

    def sync(self):
        if self.xp is not numpy:
            self.xp.cuda.Stream.null.synchronize()

    def memory_limit(self, fraction):
        if self.xp is numpy:
            try:
                available = os.sysconf('SC_AVPHYS_PAGES') * \
                    os.sysconf('SC_PAGE_SIZE')
            except (ValueError, OSError, AttributeError):
                return None
            return fraction * available
        free, _ = self.xp.cuda.runtime.memGetInfo()
        return fraction * free


# ----------------------------------------------------------------------------
# Workloads: a callable per configuration.

def _eye():
    return nr.get_points_from_angles(*EYE)


def _renderer(config):
    renderer = nr.Renderer()
    renderer.image_size = config.size
    renderer.anti_aliasing = config.aa
    renderer.eye = _eye()
    return renderer


def _inputs(config, xp):
    """(vertices, faces, textures): textures None, texel cubes, or an
    nr.UVTexture of arrays (config.texture)."""
    mesh_vertices, mesh_faces = meshes.mesh(config.mesh)
    batch = config.batch
    kind, t, mipmap = parse_texture(config.texture, len(mesh_faces))
    rng = numpy.random.RandomState(0)
    vertices = numpy.ascontiguousarray(numpy.broadcast_to(
        mesh_vertices, (batch,) + mesh_vertices.shape))
    faces = numpy.ascontiguousarray(numpy.broadcast_to(
        mesh_faces, (batch,) + mesh_faces.shape))
    textures = None
    if config.mode in ('rgbad', 'rgb', 'raster'):
        shape = (batch, faces.shape[1], t, t, t, 3) if kind == 'cube' \
            else (1, t, t, 3)  # one image for the batch
        if config.texture:
            # Drawn in float32 directly: no float64 copy of large textures.
            textures = numpy.random.default_rng(0).random(
                shape, dtype=numpy.float32)
        else:
            textures = rng.uniform(0, 1, shape).astype(numpy.float32)
    if xp is not numpy:
        vertices, faces = xp.asarray(vertices), xp.asarray(faces)
        if textures is not None:
            textures = xp.asarray(textures)
    if textures is not None and kind == 'uv':
        uvs = numpy.ascontiguousarray(numpy.broadcast_to(
            cylindrical_uvs(mesh_vertices, mesh_faces),
            (batch, len(mesh_faces), 3, 2)))
        textures = nr.UVTexture(xp.asarray(uvs), textures, 'REPEAT', mipmap)
    return vertices, faces, textures


def _texture_variables(textures):
    """Textures whose arrays are fresh Variables (forward + backward): the
    gradients reach the cubes, or a UV texture's uvs and image."""
    if textures is None:
        return None
    if isinstance(textures, nr.UVTexture):
        return nr.UVTexture(chainer.Variable(textures.uvs),
                            chainer.Variable(textures.image),
                            textures.wrapping, textures.mipmap)
    return chainer.Variable(textures)


def _render(renderer, mode, vertices, faces, textures):
    """Outputs as a list of Variables."""
    if mode == 'rgbad':
        out = renderer.render_rgbad(vertices, faces, textures)
        return [out['rgb'], out['alpha'], out['depth']]
    if mode == 'rgb':
        return [renderer.render(vertices, faces, textures)]
    if mode == 'silhouettes':
        return [renderer.render_silhouettes(vertices, faces)]
    return [renderer.render_depth(vertices, faces)]


def renderer_workload(config, device):
    """The callable timed for ours / per-pixel (original)."""
    xp = device.xp
    if config.mode in losses.MODES:
        return losses.workload(config.mode, config.size, config.batch,
                               config.aa, xp, device.sync)
    renderer = _renderer(config)
    vertices, faces, textures = _inputs(config, xp)
    original = config.implementation == PER_PIXEL
    swap = per_pixel.original_rasterization if original \
        else contextlib.nullcontext

    if config.mode == 'raster':
        with per_pixel.capture_screen_faces() as captured, \
                chainer.no_backprop_mode():
            _render(renderer, 'rgbad', vertices, faces, textures)
        screen_faces, near, far, shape = captured[0]
        rasterize = per_pixel.rasterize if original \
            else per_pixel.rasterize_ours

        def run():
            rasterize(screen_faces, shape[1], shape[2], near, far)
            device.sync()
        return run

    if config.pass_ == FORWARD:
        def run():
            with swap(), chainer.no_backprop_mode():
                _render(renderer, config.mode, vertices, faces, textures)
            device.sync()
        return run

    with chainer.no_backprop_mode():
        shapes = [o.shape for o in _render(renderer, config.mode, vertices,
                                           faces, textures)]
    rng = numpy.random.RandomState(1)
    grads = [xp.asarray(rng.randn(*s).astype(numpy.float32)) for s in shapes]

    last = {}

    def run():
        v = chainer.Variable(vertices)
        t = _texture_variables(textures)
        with swap():
            outputs = _render(renderer, config.mode, v, faces, t)
        loss = sum(F.sum(o * g) for o, g in zip(outputs, grads))
        loss.backward()
        device.sync()
        last['textures'] = t

    if isinstance(textures, nr.UVTexture):
        def check():
            """After a call: the gradient reached the image and the uvs."""
            t = last['textures']
            for name, variable in (('image', t.image), ('uvs', t.uvs)):
                grad = variable.grad
                if grad is None or not bool(xp.isfinite(grad).all()) or \
                        not float(abs(grad).max()) > 0:
                    raise RuntimeError('no gradient reached the UV '
                                       'texture\'s {}'.format(name))
        run.check = check
    return run


def deodr_workload(config, device):
    vertices, faces = meshes.mesh(config.mesh)
    bench = deodr_bench.Bench(vertices, faces, config.mode, config.size,
                              config.aa, _eye())
    return bench.forward if config.pass_ == FORWARD \
        else bench.forward_backward


# ----------------------------------------------------------------------------
# Estimates for skipping.

def rendered_faces(config):
    # The renderer's fill_back doubles the faces (DEODR: single-sided).
    n = meshes.num_faces(config.mesh)
    return n if config.implementation == DEODR else 2 * n


def estimated_bytes(config):
    """Rough peak memory of a configuration (bytes)."""
    scale = 2 if config.aa and config.implementation != DEODR else 1
    pixels = config.batch * (config.size * scale) ** 2
    faces = config.batch * rendered_faces(config)
    backward = config.pass_ == BACKWARD
    if config.implementation == DEODR:
        return pixels * 8 * 12 + faces * 8 * 30
    # z-buffer, face index, alpha, depth, rgb (+ edge planes and gradients;
    # an upper bound).
    per_pixel_bytes = 8 + 4 + 4 * 5 + (4 * 2 * 8 + 4 * 5 if backward else 0)
    kind, t, mipmap = parse_texture(config.texture,
                                    meshes.num_faces(config.mesh))
    textured = config.mode in ('rgbad', 'rgb', 'raster')
    per_face = 4 * 9 * 6 + (4 * 3 * t ** 3 * (6 if backward else 3)
                            if textured and kind == 'cube' else 0)
    texture_bytes = 0
    if textured and kind == 'uv':
        # The image, its pyramid (4/3 of it) and, backward, their
        # gradients and the per-sample sort of the image gradient.
        image = 3 * 4 * t * t
        pyramid = image * 4 // 3 if mipmap else 0
        texture_bytes = image + pyramid + (
            2 * (image + pyramid) + 20 * pixels if backward else 0)
    return pixels * per_pixel_bytes * 2 + faces * per_face + texture_bytes


def texture_bytes(spec, num_faces, batch=1):
    """Bytes of the float32 texture inputs, held between calls (the peak
    memory of a call counts what it allocates on top): cubes B F T^3 3 4,
    a UV texture its image S^2 3 4 plus the uvs B F 3 2 4."""
    kind, size, _ = parse_texture(spec, num_faces)
    if kind == 'cube':
        return batch * num_faces * size ** 3 * 3 * 4
    return size * size * 3 * 4 + batch * num_faces * 3 * 2 * 4


def face_pixel_tests(config):
    scale = 2 if config.aa else 1
    return config.batch * (config.size * scale) ** 2 * rendered_faces(config)


# Face-pixel tests per second of the per-pixel algorithm: a first guess,
# replaced by the measured rate once a per-pixel configuration has run.
PER_PIXEL_RATE = {'cpu': 1e8, 'gpu': 3e10}


# ----------------------------------------------------------------------------
# Measurement.

def time_calls(run, repeat, warmup, slow_call_s, max_call_s):
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    if first > max_call_s:
        return [first], 'one run: the warm-up call took {:.1f} s'.format(
            first)
    for _ in range(warmup - 1):
        run()
    count = repeat if first <= slow_call_s else min(repeat, 3)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times, ''


def peak_memory(run, device):
    """(host MiB, device MiB or None) of one call."""
    pool = None
    if device.xp is not numpy:
        pool = device.xp.get_default_memory_pool()
        pool.free_all_blocks()
        device_before = pool.total_bytes()
    # Blocks that the timed calls left in the package's host memory pool
    # would serve this call: measure what a first call needs.
    host_pool = getattr(nr, 'get_host_memory_pool', None)
    if host_pool is not None:
        host_pool().free_all_blocks()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    host_before = tracemalloc.get_traced_memory()[0]
    run()
    host_peak = tracemalloc.get_traced_memory()[1] - host_before
    if started:
        tracemalloc.stop()
    device_peak = None
    if pool is not None:
        device_peak = (pool.total_bytes() - device_before) / 2 ** 20
    return host_peak / 2 ** 20, device_peak


def measure(config, device, args):
    row = {'device': config.device, 'implementation': config.implementation,
           'mode': config.mode, 'pass': config.pass_, 'mesh': config.mesh,
           'faces': meshes.num_faces(config.mesh),
           'image_size': config.size, 'batch': config.batch,
           'anti_aliasing': 'on' if config.aa else 'off',
           'texture_size': _texture_size_column(config),
           'runs': 0, 'median_ms': '', 'min_ms': '', 'max_ms': '',
           'peak_host_mib': '', 'peak_device_mib': '', 'status': 'ok',
           'note': ''}
    if config.implementation == DEODR:
        row['texture_size'] = ''
        notes = ['edge-overdraw AA (sigma 1)' if config.aa
                 else 'no AA (sigma 0)']
        if config.mode == 'rgb':
            notes.append('per-vertex colours')
        if config.mode == 'depth':
            notes.append('depth interpolated linearly on screen')
        row['note'] = '; '.join(notes)
        if config.pass_ == BACKWARD and not config.aa:
            row['note'] += '; no edge gradient without AA'
        reason = deodr_bench.unavailable_reason()
        if reason:
            row['status'] = 'skipped ({})'.format(reason)
            return row
        if config.batch > 1:
            row['status'] = 'skipped (deodr renders one image per call)'
            return row
    row['texture'] = config.texture
    kind, _, _ = parse_texture(config.texture, row['faces'])
    if kind == 'uv':
        row['note'] = 'uvs: cylindrical projection'
    limit = device.memory_limit(args.memory_fraction)
    needed = estimated_bytes(config)
    if limit is not None and needed > limit:
        row['status'] = 'skipped (needs ~{:.1f} GiB, limit {:.1f} GiB)'.format(
            needed / 2 ** 30, limit / 2 ** 30)
        if config.texture.startswith('cube'):
            # Cubes at a UV texture's detail: their size is the point.
            row['status'] = 'estimated (not run: the sweep\'s bound for ' \
                'the call, ~{:.0f} GiB, exceeds its limit, {:.1f} GiB)'.format(
                    needed / 2 ** 30, limit / 2 ** 30)
            row['note'] = ('estimated: the cubes alone, F T^3 3 4 bytes = '
                           '{:,.0f} MiB{}'.format(
                               texture_bytes(config.texture, row['faces'],
                                             config.batch) / 2 ** 20,
                               '; their gradient as much again'
                               if config.pass_ == BACKWARD else ''))
        return row
    if config.implementation == PER_PIXEL:
        tests = face_pixel_tests(config)
        estimate = tests / PER_PIXEL_RATE[config.device]
        if estimate > args.max_per_pixel_s:
            row['status'] = ('skipped (~{:.0f} s per call estimated: {:.1e} '
                             'face-pixel tests)'.format(estimate, tests))
            return row
    try:
        if config.implementation == DEODR:
            run = deodr_workload(config, device)
        else:
            run = renderer_workload(config, device)
        times, note = time_calls(run, args.repeat, args.warmup,
                                 args.slow_call_s, args.max_call_s)
        times_ms = [1e3 * t for t in times]
        row.update(runs=len(times), median_ms=_fmt(numpy.median(times_ms)),
                   min_ms=_fmt(min(times_ms)), max_ms=_fmt(max(times_ms)))
        if note:
            row['note'] = '; '.join(filter(None, [row['note'], note]))
        check = getattr(run, 'check', None)
        if check is not None:
            check()
        if config.implementation == PER_PIXEL:
            PER_PIXEL_RATE[config.device] = \
                face_pixel_tests(config) / numpy.median(times)
        elif not args.no_memory:
            host, dev = peak_memory(run, device)
            row['peak_host_mib'] = _fmt(host)
            row['peak_device_mib'] = '' if dev is None else _fmt(dev)
    except Exception as error:  # recorded, the sweep goes on
        message = ' '.join(str(error).split())[:200]
        row['status'] = 'error ({}: {})'.format(type(error).__name__,
                                                message)
    return row


def _texture_size_column(config):
    """The texel cube size T, or 'UV S^2' (', no mipmap'), for rgb modes
    of the renderer."""
    if config.mode not in ('rgbad', 'rgb', 'raster') or \
            config.implementation == DEODR:
        return ''
    num_faces = meshes.num_faces(config.mesh)
    kind, size, _ = parse_texture(config.texture, num_faces)
    if kind == 'cube':
        return size
    return texture_label(config.texture, num_faces)


def _fmt_mib(value):
    return '{:,.0f}'.format(value) if value >= 1000 else _fmt(value)


def _fmt(value):
    value = float(value)
    if value >= 100:
        return '{:.0f}'.format(value)
    if value >= 10:
        return '{:.1f}'.format(value)
    return '{:.2f}'.format(value)


# ----------------------------------------------------------------------------
# Reports.

def machine():
    info = collections.OrderedDict()
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info['CPU'] = '{} ({} logical cores; OMP_NUM_THREADS={}; kernels: {} ' \
        'build)'.format(model, os.cpu_count(),
                        os.environ.get('OMP_NUM_THREADS', 'unset'),
                        _cpu_kernel_build())
    cupy, reason = gpu_status()
    if cupy is None:
        info['GPU'] = 'none: GPU rows not measured ({})'.format(reason)
    else:
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props['name']
        info['GPU'] = name.decode() if isinstance(name, bytes) else name
    versions = ['python {}'.format(platform.python_version()),
                'numpy {}'.format(numpy.__version__),
                'chainer {}'.format(chainer.__version__)]
    if cupy is not None:
        versions.append('cupy {}'.format(cupy.__version__))
    if deodr_bench.available():
        versions.append('deodr {}'.format(deodr_bench.deodr.__version__))
    info['Software'] = ', '.join(versions)
    info['Date'] = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    return info


def _cpu_kernel_build():
    from neural_renderer import _launcher
    build = getattr(_launcher, 'cpu_kernel_build', None)
    return build() if build is not None else 'baseline'


def cpu_threads():
    """The CPU kernels' thread count: $OMP_NUM_THREADS, else the cores."""
    try:
        return int(os.environ['OMP_NUM_THREADS'])
    except (KeyError, ValueError):
        return os.cpu_count()


def load_average():
    try:
        return '{:.2f} {:.2f} {:.2f}'.format(*os.getloadavg())
    except (AttributeError, OSError):
        return 'n/a'


def _find(rows, **keys):
    """The first row with these values; texture (Config.texture) is ''
    (the default cubes) unless given."""
    keys.setdefault('texture', '')
    for row in rows:
        if all(str(row.get(k, '')) == str(v) for k, v in keys.items()):
            return row
    return None


def _ms(row):
    if row is None or row['status'] != 'ok':
        return None
    return float(row['median_ms'])


def targets(rows):
    """[(target, measured, verdict)] from the issue's targets."""
    base = dict(mesh='teapot', image_size=256, batch=1)
    out = []

    def verdict(ok):
        return 'not measured' if ok is None else ('met' if ok else 'not met')

    def describe(row, value):
        if row is None:
            return 'not in this sweep'
        if value is None:
            return row['status']
        return '{} ms'.format(row['median_ms'])

    fwd = _find(rows, device='cpu', implementation=OURS, mode='rgbad',
                anti_aliasing='on', **{'pass': FORWARD}, **base)
    v = _ms(fwd)
    out.append(('CPU forward (rgb+alpha+depth), AA on <= 10 ms',
                describe(fwd, v), verdict(None if v is None else v <= 10)))
    fwd_off = _find(rows, device='cpu', implementation=OURS, mode='rgbad',
                    anti_aliasing='off', **{'pass': FORWARD}, **base)
    dd = _find(rows, device='cpu', implementation=DEODR, mode='rgb',
               anti_aliasing='off', **{'pass': FORWARD}, **base)
    a, b = _ms(fwd_off), _ms(dd)
    out.append(('CPU forward, AA off, no slower than DEODR forward (rgb, '
                'sigma 0)',
                '{} vs DEODR {}'.format(describe(fwd_off, a),
                                        describe(dd, b)),
                verdict(None if a is None or b is None else a <= b)))
    fb = _find(rows, device='cpu', implementation=OURS, mode='rgb',
               anti_aliasing='on', **{'pass': BACKWARD}, **base)
    v = _ms(fb)
    out.append(('CPU forward + backward (rgb) <= 100 ms', describe(fb, v),
                verdict(None if v is None else v <= 100)))
    for device in ('cpu', 'gpu'):
        pp = _find(rows, device=device, implementation=PER_PIXEL,
                   mode='rgbad', anti_aliasing='on', **{'pass': FORWARD},
                   **base)
        ours = _find(rows, device=device, implementation=OURS, mode='rgbad',
                     anti_aliasing='on', **{'pass': FORWARD}, **base)
        a, b = _ms(ours), _ms(pp)
        ratio = None if a is None or b is None else b / a
        out.append(('{}: forward >= 10x faster than per-pixel (original) '
                    'forward'.format(device.upper()),
                    'per-pixel {} / ours {} = {}'.format(
                        describe(pp, b), describe(ours, a),
                        'n/a' if ratio is None else '{:.1f}x'.format(ratio)),
                    verdict(None if ratio is None else ratio >= 10)))
    small = _find(rows, device='cpu', implementation=OURS, mode='rgbad',
                  mesh='sphere8', image_size=256, batch=1,
                  anti_aliasing='on', **{'pass': FORWARD})
    big = _find(rows, device='cpu', implementation=OURS, mode='rgbad',
                mesh='sphere80', image_size=256, batch=1,
                anti_aliasing='on', **{'pass': FORWARD})
    a, b = _ms(small), _ms(big)
    ratio = None if a is None or b is None else b / a
    out.append(('CPU: 100x more faces (sphere 1,280 -> 128,000 faces, same '
                'screen area, 256, forward) costs < 10x',
                '{} -> {} = {}'.format(describe(small, a), describe(big, b),
                                       'n/a' if ratio is None
                                       else '{:.2f}x'.format(ratio)),
                verdict(None if ratio is None else ratio < 10)))
    # Issue 26: forward + backward against DEODR's in the same run, and in
    # milliseconds on two threads.
    for mode in ('rgb', 'silhouettes'):
        ours = _find(rows, device='cpu', implementation=OURS, mode=mode,
                     anti_aliasing='on', **{'pass': BACKWARD}, **base)
        dd = _find(rows, device='cpu', implementation=DEODR, mode=mode,
                   anti_aliasing='on', **{'pass': BACKWARD}, **base)
        a, b = _ms(ours), _ms(dd)
        ratio = None if a is None or b is None else a / b
        out.append(('CPU forward + backward ({}), AA on, at most 12x '
                    'DEODR\'s ({} thread{})'.format(
                        mode, cpu_threads(),
                        '' if cpu_threads() == 1 else 's'),
                    '{} vs DEODR {} = {}'.format(
                        describe(ours, a), describe(dd, b),
                        'n/a' if ratio is None else '{:.1f}x'.format(ratio)),
                    verdict(None if ratio is None else ratio <= 12)))
    two = cpu_threads() == 2
    for size, limit in ((256, 10), (1024, 150)):
        row = _find(rows, device='cpu', implementation=OURS, mode='rgb',
                    anti_aliasing='on', mesh='teapot', image_size=size,
                    batch=1, **{'pass': BACKWARD})
        v = _ms(row)
        out.append(('CPU forward + backward (rgb), AA on, {} px, <= {} ms on '
                    'two threads'.format(size, limit),
                    describe(row, v) + ('' if two else ' ({} thread{})'.format(
                        cpu_threads(), '' if cpu_threads() == 1 else 's')),
                    verdict(None if v is None or not two else v <= limit)))
    gfb = _find(rows, device='gpu', implementation=OURS, mode='rgb',
                anti_aliasing='on', **{'pass': BACKWARD}, **base)
    v = _ms(gfb)
    out.append(('GPU: teapot forward + backward (rgb) <= 1 ms, batch 1',
                describe(gfb, v), verdict(None if v is None else v <= 1)))
    gbig = _find(rows, device='gpu', implementation=OURS, mode='rgbad',
                 mesh='sphere224', image_size=512, batch=1,
                 anti_aliasing='on', **{'pass': FORWARD})
    v = _ms(gbig)
    out.append(('GPU: 1M faces (1,003,520) at 512 x 512 forward <= 10 ms',
                describe(gbig, v), verdict(None if v is None else v <= 10)))
    return out


def _md_table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(str(c) for c in row) + ' |')
    return lines


GROUP_TITLES = collections.OrderedDict([
    ('baseline', 'Baseline: teapot, batch 1, anti-aliasing on and off'),
    ('image size', 'Image size: teapot, batch 1, anti-aliasing on'),
    ('faces', 'Faces: batch 1, anti-aliasing on'),
    ('batch', 'Batch: teapot, anti-aliasing on'),
    ('scaling', 'Scaling: 100x more faces over the same screen area'),
    ('large', 'Large combinations'),
    ('losses', 'Losses people train with (benchmarks/losses.py)'),
    ('uv', 'UV textures against texel cubes: teapot, rgb, batch 1, '
           'anti-aliasing on'),
])


def write_markdown(path, rows, info, command, agreement):
    lines = ['# Benchmark results', '']
    for key, value in info.items():
        lines.append('- {}: {}'.format(key, value))
    lines.append('- Command: `{}`'.format(command))
    lines += ['',
              'Times: median wall-clock ms of the timed runs after warm-up '
              '(`runs`). Peak memory (MiB): host = tracemalloc peak during '
              'one untimed call, from an emptied host memory pool; device '
              '= CuPy pool growth. `faces` = mesh '
              'faces (the renderer draws twice as many: fill_back). '
              'Modes: rgbad = rgb + alpha + depth from one pass; raster = '
              'the rasterization pass alone (z-buffer from screen-space '
              'faces). per-pixel (original) = the renderer with its '
              'rasterization pass replaced by the original algorithm (one '
              'thread per pixel over all faces). See benchmarks/README.md.',
              '', '## Targets (not asserted anywhere; for reading)', '']
    lines += _md_table(['target', 'measured', 'verdict'], targets(rows))
    if agreement:
        lines += ['', '## DEODR vs ours on the same scene', '']
        lines += ['- ' + a for a in agreement]
    header = ['device', 'implementation', 'mode', 'pass', 'mesh', 'faces',
              'size', 'batch', 'AA', 'median ms', 'runs', 'host MiB',
              'device MiB', 'status / note']
    for group, title in GROUP_TITLES.items():
        group_rows = [r for r in rows if group in r['groups'].split(';')]
        if not group_rows:
            continue
        lines += ['', '## ' + title, '']
        if group == 'uv':
            lines += uv_tables(group_rows)
            continue
        table = []
        for r in group_rows:
            status = r['status'] if r['status'] != 'ok' else ''
            table.append([r['device'], r['implementation'], r['mode'],
                          r['pass'], r['mesh'], '{:,}'.format(int(r['faces'])),
                          r['image_size'], r['batch'], r['anti_aliasing'],
                          r['median_ms'], r['runs'], r['peak_host_mib'],
                          r['peak_device_mib'],
                          '; '.join(filter(None, [status, r['note']]))])
        lines += _md_table(header, table)
        if group == 'losses':
            lines += renderer_shares(group_rows)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def renderer_shares(rows):
    """Lines giving the renderer's share of the reconstruction's training
    step, per device (recon-renderer's time over recon-step's)."""
    lines = []
    for device in ('cpu', 'gpu'):
        step = _ms(_find(rows, device=device, mode='recon-step'))
        part = _ms(_find(rows, device=device, mode='recon-renderer'))
        if step and part is not None:
            lines.append('')
            lines.append('{}: the renderer (forward + backward of the '
                         'silhouettes, two meshes x two cameras per '
                         'object, and the IoU loss) takes {:.0f}% of the '
                         'reconstruction training step ({:.3g} of {:.3g} '
                         'ms).'.format(device.upper(), 100 * part / step,
                                       part, step))
    return lines


def uv_tables(rows):
    """The uv group: its rows with their texture, then UV against the
    default cubes and against cubes of the same detail (time, memory)."""
    header = ['device', 'pass', 'size', 'texture', 'texels / face',
              'median ms', 'runs', 'texture MiB', 'call host MiB',
              'call device MiB', 'status / note']

    def inputs_mib(row):
        return texture_bytes(row.get('texture', ''), int(row['faces']),
                             int(row['batch'])) / 2 ** 20

    table = []
    for r in rows:
        faces = int(r['faces'])
        status = r['status'] if r['status'] != 'ok' else ''
        estimated = status.startswith('estimated')
        table.append([r['device'], r['pass'], r['image_size'],
                      texture_label(r.get('texture', ''), faces),
                      '{:,.0f}'.format(texels_per_face(r.get('texture', ''),
                                                       faces)),
                      r['median_ms'], r['runs'],
                      '{}{}'.format(_fmt_mib(inputs_mib(r)), ' (estimated)'
                                    if estimated else ''),
                      r['peak_host_mib'], r['peak_device_mib'],
                      '; '.join(filter(None, [status, r['note']]))])
    lines = ['Texture MiB: the texture inputs, held between calls (cubes '
             'F T^3 3 4 bytes; UV: the image S^2 3 4 and the uvs); call '
             'MiB: the peak a call allocates on top (as in the other '
             'tables). Memory ratios below compare the sums (host; GPU '
             'rows: device).', '']
    lines += _md_table(header, table)

    def ratio(a, b):
        return 'n/a' if a is None or b is None or not b else \
            '{:.2f}x'.format(a / b)

    def mib(row):
        """Texture + call peak; for estimated cubes their bytes alone
        (forward + backward: and their gradient's)."""
        if row is None:
            return None
        if row['status'].startswith('estimated'):
            return inputs_mib(row) * (2 if row['pass'] == BACKWARD else 1)
        peak = row['peak_device_mib' if row['device'] == 'gpu'
                   else 'peak_host_mib']
        if row['status'] != 'ok' or not peak:
            return None
        return inputs_mib(row) + float(peak)

    comparison = []
    for r in rows:
        texture = r.get('texture', '')
        if not texture.startswith('uv') or r['status'] != 'ok':
            continue
        faces = int(r['faces'])
        keys = dict(device=r['device'], implementation=r['implementation'],
                    mode=r['mode'], mesh=r['mesh'],
                    image_size=r['image_size'], batch=r['batch'],
                    anti_aliasing=r['anti_aliasing'],
                    **{'pass': r['pass']})
        default = _find(rows, **keys)
        _, side, _ = parse_texture(texture, faces)
        same_spec = same_detail_cubes(side, faces)
        same = _find(rows, texture=same_spec, **keys)
        same_time = 'not run (estimated)' if same is not None and \
            same['status'].startswith('estimated') else \
            ratio(_ms(r), _ms(same))
        comparison.append([
            r['device'], r['pass'], r['image_size'],
            texture_label(texture, faces), ratio(_ms(r), _ms(default)),
            ratio(mib(r), mib(default)),
            texture_label(same_spec, faces), same_time,
            ratio(mib(r), mib(same))])
    if comparison:
        lines += ['', 'UV over cubes, same device, pass and size (time; '
                  'memory = texture + call peak; against estimated '
                  'cubes, their bytes and, forward + backward, their '
                  'gradient\'s alone: a lower bound for the cubes):', '']
        lines += _md_table(['device', 'pass', 'size', 'texture',
                            'time / cubes 4^3', 'memory / cubes 4^3',
                            'same-detail cubes', 'time / same-detail',
                            'memory / same-detail'], comparison)
    return lines


def deodr_agreement(size=64):
    """Silhouette and depth agreement of DEODR and ours (AA off), for the
    report: the scene is the same up to the stated differences."""
    if not deodr_bench.available():
        return []
    out = []
    for name in ('teapot', 'sphere8'):
        vertices, faces = meshes.mesh(name)
        renderer = nr.Renderer()
        renderer.image_size = size
        renderer.anti_aliasing = False
        renderer.eye = _eye()
        with chainer.no_backprop_mode():
            alpha = renderer.render_silhouettes(vertices[None],
                                                faces[None]).array[0]
            depth = renderer.render_depth(vertices[None],
                                          faces[None]).array[0]
        d_alpha = deodr_bench.Bench(vertices, faces, 'silhouettes', size,
                                    False, _eye()).forward()[::-1, :, 0]
        d_depth = deodr_bench.Bench(vertices, faces, 'depth', size, False,
                                    _eye()).forward()[::-1, :, 0]
        both = (alpha > 0.5) & (d_alpha > 0.5)
        out.append('{} at {} x {}, no AA: silhouettes differ in {} of {} '
                   'pixels; depth on common pixels: median |diff| {:.2g}, '
                   'max {:.2g} (DEODR interpolates depth linearly on screen, '
                   'ours perspective-correctly)'.format(
                       name, size, size,
                       int(((alpha > 0.5) != (d_alpha > 0.5)).sum()),
                       alpha.size,
                       float(numpy.median(abs(depth[both] - d_depth[both]))),
                       float(abs(depth[both] - d_depth[both]).max())))
    out.append('the teapot is open: the renderer\'s fill_back draws the '
               'inside where DEODR culls back faces, hence the few '
               'differing pixels')
    return out


# ----------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('--out', default=os.path.join(HERE, 'results'),
                        help='output directory (results.csv, results.md)')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--quick', action='store_true',
                      help='reduced sweep (~10 min on a 2-core CPU)')
    mode.add_argument('--smoke', action='store_true',
                      help='tiny sizes, one run each (CI)')
    parser.add_argument('--devices', default='cpu,gpu',
                        help='comma-separated: cpu, gpu (gpu is skipped '
                             'without CuPy and a GPU)')
    parser.add_argument('--groups', default='',
                        help='comma-separated subset of: ' +
                             ', '.join(GROUP_TITLES))
    parser.add_argument('--sizes', default='', help='e.g. 64,256')
    parser.add_argument('--meshes', default='',
                        help='e.g. teapot,sphere8 (sphereN: 20 N^2 faces)')
    parser.add_argument('--batches', default='', help='e.g. 1,8')
    parser.add_argument('--implementations', default='',
                        help='comma-separated: ours, per-pixel, deodr')
    parser.add_argument('--modes', default='',
                        help='comma-separated: ' + ', '.join(MODES))
    parser.add_argument('--repeat', type=int, default=None,
                        help='timed runs per configuration (default 10; '
                             'quick 5; smoke 1)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed runs first (default 2; smoke 1)')
    parser.add_argument('--slow-call-s', type=float, default=2.,
                        help='calls slower than this are timed 3 times')
    parser.add_argument('--max-call-s', type=float, default=None,
                        help='a configuration whose warm-up call is slower '
                             'is timed by that call alone (default 30; '
                             'quick 10)')
    parser.add_argument('--max-per-pixel-s', type=float, default=None,
                        help='per-pixel (original) configurations estimated '
                             'slower per call are skipped (default 120; '
                             'quick 30; smoke 5)')
    parser.add_argument('--memory-fraction', type=float, default=0.5,
                        help='skip configurations estimated to need more '
                             'than this fraction of available memory')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak-memory runs')
    parser.add_argument('--list', action='store_true',
                        help='print the configurations and exit')
    args = parser.parse_args(argv)

    def ints(text):
        return [int(v) for v in text.split(',') if v]

    def names(text):
        return [v.strip() for v in text.split(',') if v.strip()]

    args.sizes = ints(args.sizes)
    args.batches = ints(args.batches)
    args.meshes = names(args.meshes)
    args.groups = names(args.groups)
    args.modes = names(args.modes)
    args.devices = names(args.devices)
    implementations = []
    for name in names(args.implementations):
        if name not in IMPLEMENTATION_KEYS:
            parser.error('unknown implementation {!r}'.format(name))
        implementations.append(IMPLEMENTATION_KEYS[name])
    args.implementations = implementations
    for group in args.groups:
        if group not in GROUP_TITLES:
            parser.error('unknown group {!r}'.format(group))
    for name in args.modes:
        if name not in MODES:
            parser.error('unknown mode {!r}'.format(name))
    if args.repeat is None:
        args.repeat = 1 if args.smoke else (5 if args.quick else 10)
    if args.warmup is None:
        args.warmup = 1 if args.smoke or args.quick else 2
    if args.max_call_s is None:
        args.max_call_s = 10. if args.quick or args.smoke else 30.
    if args.max_per_pixel_s is None:
        args.max_per_pixel_s = 5. if args.smoke else (30. if args.quick
                                                      else 120.)
    return args


def run_sweep(args, log=print):
    devices = []
    gpu_rows = []
    for name in args.devices:
        if name == 'cpu':
            devices.append(Device('cpu', numpy))
        elif name == 'gpu':
            cupy, reason = gpu_status()
            if cupy is None:
                # The GPU targets, marked as not measured.
                for mode, pass_, mesh, size, impl in (
                        ('rgb', BACKWARD, 'teapot', 256, OURS),
                        ('rgbad', FORWARD, 'teapot', 256, OURS),
                        ('rgbad', FORWARD, 'teapot', 256, PER_PIXEL),
                        ('rgbad', FORWARD, 'sphere224', 512, OURS)):
                    gpu_rows.append(dict(
                        {c: '' for c in COLUMNS}, groups='baseline' if mesh
                        == 'teapot' else 'large', device='gpu',
                        implementation=impl, mode=mode, mesh=mesh,
                        faces=meshes.num_faces(mesh), image_size=size,
                        batch=1, anti_aliasing='on', runs=0,
                        status='skipped ({})'.format(reason),
                        **{'pass': pass_}))
            else:
                devices.append(Device('gpu', cupy))
        else:
            raise ValueError('unknown device {!r}'.format(name))

    rows = []
    for device in devices:
        entries = restrict(plan(args, device.name), args)
        groups = collections.OrderedDict()
        for group, config in entries:
            groups.setdefault(config, [])
            if group not in groups[config]:
                groups[config].append(group)
        for k, (config, config_groups) in enumerate(groups.items()):
            start = time.perf_counter()
            row = measure(config, device, args)
            row['groups'] = ';'.join(config_groups)
            rows.append(row)
            log('[{}/{}] {:4s} {:21s} {:11s} {:16s} {:9s} {:4d} b{:<3d} '
                'AA {:3s}{} {:>8s} ms  {} ({:.1f} s)'.format(
                    k + 1, len(groups), config.device,
                    config.implementation, config.mode, config.pass_,
                    config.mesh, config.size, config.batch,
                    row['anti_aliasing'], ' ' + config.texture
                    if config.texture else '', str(row['median_ms']),
                    row['status'], time.perf_counter() - start))
    return rows + gpu_rows


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for device in args.devices:
            for group, config in restrict(plan(args, device), args):
                print(group, *(config if config.texture else config[:-1]))
        return []
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    load_before = load_average()
    rows = run_sweep(args)
    load_after = load_average()
    command = 'python benchmarks/sweep.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    agreement = deodr_agreement(32 if args.smoke else 64) \
        if 'cpu' in args.devices and (not args.implementations or
                                      DEODR in args.implementations) else []
    with open(os.path.join(args.out, 'results.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, '') for c in COLUMNS})
    info = machine()
    # Other processes on the machine inflate and scatter the times (an
    # OpenMP region waits for its slowest thread): the load shows it.
    info['Load average (1, 5, 15 min) before / after'] = '{} / {}'.format(
        load_before, load_after)
    write_markdown(os.path.join(args.out, 'results.md'), rows, info,
                   command.strip(), agreement)
    print('wrote {} and {} ({} rows, {:.0f} s)'.format(
        os.path.join(args.out, 'results.csv'),
        os.path.join(args.out, 'results.md'), len(rows),
        time.perf_counter() - start))
    return rows


if __name__ == '__main__':
    main()
