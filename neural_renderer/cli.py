"""Command line tool: render an OBJ mesh to a PNG image or a turntable GIF.

Usage::

    neural-renderer render MESH.obj -o OUT.png [options]
    python -m neural_renderer render MESH.obj -o OUT.gif [options]

What is drawn, and how: see RENDER_DESCRIPTION below (``render --help``).
The mesh is normalised as ``load_obj`` does by default; the camera is placed
with ``get_points_from_angles``.

Errors (bad option values, a missing or malformed mesh, .mtl or texture, an
unwritable output) are reported in one line on stderr with a non-zero exit
status: 2 for bad arguments, 1 for the rest, 130 when interrupted (SIGINT),
143 when terminated (SIGTERM). The output is written to a temporary file
next to it and renamed when complete: a failure or an interrupt leaves an
earlier file of that name as it was. GIF frames are streamed to the file as
they are rendered (memory does not grow with the number of frames).
"""
import argparse
import math
import os
import signal
import sys
import threading
import warnings

import numpy

import neural_renderer as nr
import chainer

from neural_renderer.files import atomic_output

PROG = 'neural-renderer'
MAX_FRAMES = 3600  # a guard against a mistyped --azimuth-range STEP
BATCH_PIXELS = 2 ** 21
# Depth mode: the farthest visible point's grey, so that it stays distinct
# from a black background.
DEPTH_FAR_GREY = 0.2
# load_obj's normalised mesh lies within this distance of the origin.
MESH_RADIUS = math.sqrt(3)

RENDER_DESCRIPTION = '''\
Render MESH (normalised to span [-1, 1]) with a camera at --distance from the
origin, at --elevation and --azimuth degrees. A .png gets one image, a .gif
one frame per azimuth of --azimuth-range START STOP STEP (STOP excluded).

modes: rgb (lit; white, or the .mtl colours with --textures), silhouette
(white mesh), depth (grey: the nearest visible point white, the farthest 20%
grey, one scale for all frames). All are drawn over --background.'''


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


class CliError(Exception):
    """A failure the user can fix (input, output, device): exit status 1."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block and exits; raise instead so that
    # main() reports one line and returns the status.
    def error(self, message):
        raise UsageError(message)


def _number(convert, check, expected):
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not check(value):
            raise argparse.ArgumentTypeError(
                'expected {}, got {!r}'.format(expected, text))
        return value
    return parse


# Valid ranges. The renderer computes in float32: these keep every
# intermediate value finite and meaningful (a mesh 1e6 away is far below one
# pixel; angles beyond 100 turns lose float32 precision; light factors up to
# 1e6 * 1e6 stay far from float32's 3.4e38).
MAX_DISTANCE = 1e6
MAX_DEGREES = 36000.
MAX_LIGHT = 1e6
MIN_VIEWING_ANGLE = 1e-3
# GIF frame delays are stored in centiseconds in 16 bits; Pillow rounds the
# milliseconds down to centiseconds (0 would mean "no delay").
MIN_FRAME_DURATION = 10
MAX_FRAME_DURATION = 65535 * 10

positive_int = _number(int, lambda v: v > 0, 'a positive integer')
distance = _number(float, lambda v: 0 < v <= MAX_DISTANCE,
                   'a distance in (0, {:g}]'.format(MAX_DISTANCE))
degrees = _number(float, lambda v: abs(v) <= MAX_DEGREES,
                  'degrees in [{:g}, {:g}]'.format(-MAX_DEGREES, MAX_DEGREES))
light_value = _number(float, lambda v: 0 <= v <= MAX_LIGHT,
                      'a number in [0, {:g}]'.format(MAX_LIGHT))
finite_float = _number(float, lambda v: True, 'a number')
unit_float = _number(float, lambda v: 0 <= v <= 1, 'a number in [0, 1]')
half_angle = _number(float, lambda v: MIN_VIEWING_ANGLE <= v < 90,
                     'an angle in [{:g}, 90) degrees'.format(
                         MIN_VIEWING_ANGLE))
frame_duration = _number(
    int, lambda v: MIN_FRAME_DURATION <= v <= MAX_FRAME_DURATION,
    'milliseconds in [{}, {}] (GIF stores centiseconds in 16 bits)'.format(
        MIN_FRAME_DURATION, MAX_FRAME_DURATION))


def build_parser():
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--version', action='version',
                        version='%(prog)s ' + nr.__version__)
    commands = parser.add_subparsers(dest='command', required=True,
                                     metavar='COMMAND')
    p = commands.add_parser(
        'render', help='render a mesh to a .png or a turntable .gif',
        description=RENDER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add = p.add_argument
    add('mesh', help='the .obj file')
    add('-o', '--output', required=True,
        help='output file: .png (one image) or .gif (a turntable)')
    add('--mode', choices=('rgb', 'silhouette', 'depth'), default='rgb',
        help='what to draw (default: %(default)s)')
    add('--image-size', type=positive_int, default=256, metavar='N',
        help='N x N pixels (default: %(default)s)')
    add('--distance', type=distance, default=2.732,
        help='camera distance from the origin (default: %(default)s)')
    add('--elevation', type=degrees, default=30., metavar='DEGREES',
        help='camera elevation (default: %(default)s)')
    add('--azimuth', type=degrees, default=None, metavar='DEGREES',
        help='camera azimuth for a .png (default: 0)')
    add('--azimuth-range', type=degrees, nargs=3, default=None,
        metavar=('START', 'STOP', 'STEP'),
        help='azimuths of the .gif frames, STOP excluded (default: 0 360 4)')
    add('--frame-duration', type=frame_duration, default=40, metavar='MS',
        help='.gif frame duration in milliseconds, {} to {}, rounded down '
             'to a multiple of 10 (default: %(default)s)'.format(
                 MIN_FRAME_DURATION, MAX_FRAME_DURATION))
    add('--viewing-angle', type=half_angle, default=30., metavar='DEGREES',
        help='half the vertical field of view (default: %(default)s)')
    add('--ambient', type=light_value, default=0.5,
        help='ambient light intensity (default: %(default)s)')
    add('--directional', type=light_value, default=0.5,
        help='directional light intensity (default: %(default)s)')
    add('--light-direction', type=finite_float, nargs=3, default=[0, 1, 0],
        metavar=('X', 'Y', 'Z'),
        help='world direction toward the light, normalised (default: '
             '0 1 0, from above)')
    add('--ambient-color', type=light_value, nargs=3,
        default=[1, 1, 1], metavar=('R', 'G', 'B'),
        help='ambient light colour (default: 1 1 1)')
    add('--directional-color', type=light_value, nargs=3,
        default=[1, 1, 1], metavar=('R', 'G', 'B'),
        help='directional light colour (default: 1 1 1)')
    add('--background', type=unit_float, nargs=3, default=[0, 0, 0],
        metavar=('R', 'G', 'B'), help='background colour (default: 0 0 0)')
    add('--textures', action='store_true',
        help='colour the mesh from its .mtl (Kd, map_Kd); else white')
    add('--texture-size', type=positive_int, default=4, metavar='T',
        help='texels per face edge with --textures (default: %(default)s)')
    add('--uv', action='store_true',
        help='with --textures, sample the images at render time through '
             'the vt coordinates (a UV texture, mip-mapped) instead of '
             'baking them into texel cubes')
    add('--anti-aliasing', action=argparse.BooleanOptionalAction,
        default=True, help='2x supersampling (default: on)')
    add('--fill-back', action=argparse.BooleanOptionalAction, default=True,
        help='draw back faces too (default: on)')
    add('-g', '--gpu', type=int, default=-1, metavar='ID',
        help='GPU id (needs CuPy); -1 runs on the CPU (default)')
    return parser


def _check_arguments(args):
    """Checks that need several options; returns the frame azimuths."""
    extension = os.path.splitext(args.output)[1].lower()
    if extension not in ('.png', '.gif'):
        raise UsageError('argument -o/--output: expected a .png or .gif '
                         'file, got {!r}'.format(args.output))
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory):
        raise UsageError('argument -o/--output: directory {} does not '
                         'exist'.format(directory))
    if os.path.isdir(args.output):
        raise UsageError('argument -o/--output: {} is a directory'
                         .format(args.output))
    if not any(args.light_direction):
        raise UsageError('argument --light-direction: must not be 0 0 0')
    if args.uv and not args.textures:
        raise UsageError('argument --uv: needs --textures (it says how '
                         'the textures are sampled)')
    if extension == '.png':
        if args.azimuth_range is not None:
            raise UsageError('--azimuth-range needs a .gif output; use '
                             '--azimuth for a .png')
        return [0. if args.azimuth is None else args.azimuth]
    if args.azimuth is not None:
        raise UsageError('--azimuth is for a .png output; use '
                         '--azimuth-range for a .gif')
    start, stop, step = args.azimuth_range or (0., 360., 4.)
    if step == 0:
        raise UsageError('argument --azimuth-range: STEP must not be 0')
    # Like range(): STOP excluded; the tolerance absorbs float rounding.
    steps = (stop - start) / step - 1e-9
    count = math.ceil(steps) if 0 < steps <= MAX_FRAMES else 0
    if count < 1:
        raise UsageError(
            'argument --azimuth-range: {:g} {:g} {:g} gives {} frames; '
            'expected 1 to {}'.format(
                start, stop, step, 'no' if steps <= 0 else 'too many',
                MAX_FRAMES))
    return [start + i * step for i in range(count)]


def _select_device(gpu):
    """The array module for ``gpu`` (-1: numpy), making that GPU current."""
    if gpu < 0:
        return numpy
    try:
        import cupy
    except ImportError as e:
        raise CliError('--gpu needs CuPy ({})'.format(e)) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as e:
        raise CliError('--gpu {}: no usable GPU ({})'.format(gpu, e)) from e
    if gpu >= count:
        raise CliError('--gpu {}: only {} GPU(s) found'.format(gpu, count))
    try:
        chainer.backends.cuda.get_device_from_id(gpu).use()
    except RuntimeError as e:  # Chainer does not support this CuPy
        raise CliError('--gpu {}: {}'.format(gpu, e)) from e
    return cupy


def _load_mesh(args, xp):
    # load_obj warns about e.g. undefined materials: one line each.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', UserWarning)
        if args.textures and args.uv:
            vertices, faces, uvs, image = nr.load_obj(args.mesh,
                                                      load_texture='uv')
            textures = nr.UVTexture(xp.asarray(uvs[None]),
                                    xp.asarray(image[None]))
        elif args.textures:
            vertices, faces, textures = nr.load_obj(
                args.mesh, texture_size=args.texture_size, load_texture=True)
        else:
            vertices, faces = nr.load_obj(args.mesh)
            textures = numpy.ones((len(faces), 1, 1, 1, 3), numpy.float32)
    for warning in caught:
        print('{}: warning: {}'.format(PROG, warning.message),
              file=sys.stderr)
    if not isinstance(textures, nr.UVTexture):
        textures = xp.asarray(textures[None])
    return xp.asarray(vertices[None]), xp.asarray(faces[None]), textures


def _make_renderer(args):
    renderer = nr.Renderer()
    renderer.image_size = args.image_size
    renderer.anti_aliasing = args.anti_aliasing
    renderer.fill_back = args.fill_back
    renderer.viewing_angle = args.viewing_angle
    renderer.background_color = args.background
    # The default far plane (100) would hide a mesh seen from far away.
    renderer.far = max(renderer.far, 2 * (args.distance + MESH_RADIUS))
    renderer.light_intensity_ambient = args.ambient
    renderer.light_intensity_directional = args.directional
    renderer.light_color_ambient = args.ambient_color
    renderer.light_color_directional = args.directional_color
    # The renderer uses the direction as given; unit length keeps
    # --directional the intensity.
    direction = numpy.asarray(args.light_direction, numpy.float64)
    direction = direction / numpy.abs(direction).max()  # no overflow
    renderer.light_direction = list(direction / numpy.linalg.norm(direction))
    return renderer


def _to_cpu(variable):
    return chainer.backend.CpuDevice().send(variable.array)


def _batch(xp, array, size):
    return xp.ascontiguousarray(xp.broadcast_to(array, (size,) +
                                                array.shape[1:]))


def _render_batches(args, xp, mesh, renderer, azimuths, batch_size):
    """Yields, per batch of frames, rgb [n, H, W, 3] (rgb mode), alpha
    [n, H, W] (silhouette) or (depth, alpha) (depth): NumPy float arrays."""
    vertices, faces, textures = mesh
    for start in range(0, len(azimuths), batch_size):
        chunk = numpy.asarray(azimuths[start:start + batch_size],
                              numpy.float32)
        # The mode is entered per batch, not around the yields: a suspended
        # generator must not leave it on for its consumer.
        with chainer.no_backprop_mode():
            renderer.eye = xp.asarray(nr.get_points_from_angles(
                args.distance, args.elevation, chunk))
            v, f = (_batch(xp, a, len(chunk)) for a in (vertices, faces))
            if isinstance(textures, nr.UVTexture):
                # One image serves the batch.
                t = nr.UVTexture(_batch(xp, textures.uvs, len(chunk)),
                                 textures.image)
            else:
                t = _batch(xp, textures, len(chunk))
            if args.mode == 'rgb':
                out = _to_cpu(renderer.render(v, f, t)).transpose(0, 2, 3, 1)
            elif args.mode == 'silhouette':
                out = _to_cpu(renderer.render_silhouettes(v, f))
            else:  # depth and alpha from one pass
                _, depth, alpha = renderer(v, f, t)
                out = _to_cpu(depth), _to_cpu(alpha)
        yield out


def _surface_depth(depth, alpha, far):
    """(depth of the covered samples, 0 elsewhere; covered mask)."""
    # Anti-aliasing averages depth with the background's ``far``: undo that
    # to get the mean depth of the covered samples.
    covered = alpha > 0
    return numpy.where(covered, (depth - (1 - alpha) * far)
                       / numpy.where(covered, alpha, 1), 0), covered


def _to_uint8(images):
    return (numpy.clip(images, 0, 1) * 255 + 0.5).astype(numpy.uint8)


def render_frames(args, azimuths):
    """Yields the frames, uint8 [H, W, 3], one per azimuth, in order.

    Frames are rendered in batches (several times faster than one by one on
    the CPU) of at most about BATCH_PIXELS rasterized pixels, and handed
    out one by one: at most one batch is held, however many frames there
    are. The depth mode's grey scale is one for all frames: with more than
    one batch, the frames are rendered twice (first for the depth range).
    """
    xp = _select_device(args.gpu)
    mesh = _load_mesh(args, xp)
    renderer = _make_renderer(args)
    background = numpy.asarray(args.background, numpy.float32)
    samples = (args.image_size * (2 if args.anti_aliasing else 1)) ** 2
    batch_size = max(1, min(len(azimuths), BATCH_PIXELS // samples))

    def batches():
        return _render_batches(args, xp, mesh, renderer, azimuths,
                               batch_size)

    if args.mode == 'rgb':
        for rgb in batches():
            yield from _to_uint8(rgb)
        return
    if args.mode == 'silhouette':
        for alpha in batches():
            grey = numpy.ones_like(alpha)
            alpha = alpha[..., None]
            yield from _to_uint8(alpha * grey[..., None] +
                                 (1 - alpha) * background)
        return
    # depth
    if len(azimuths) <= batch_size:
        depth_batches = list(batches())
    else:
        depth_batches = None
    nearest = farthest = None
    for depth, alpha in depth_batches or batches():
        depth, covered = _surface_depth(depth, alpha, renderer.far)
        if covered.any():
            low, high = depth[covered].min(), depth[covered].max()
            nearest = low if nearest is None else min(nearest, low)
            farthest = high if farthest is None else max(farthest, high)
    if nearest is None:
        nearest = farthest = 0
    scale = ((1 - DEPTH_FAR_GREY) / (farthest - nearest)
             if farthest > nearest else 0)
    for depth, alpha in depth_batches or batches():
        depth, _ = _surface_depth(depth, alpha, renderer.far)
        grey = 1 - (depth - nearest) * scale
        alpha = alpha[..., None]
        yield from _to_uint8(alpha * grey[..., None] +
                             (1 - alpha) * background)


class _GifStream(object):
    """Writes a looping GIF frame by frame with Pillow's GIF encoder: only
    the frame being written (and one pending frame) is held in memory.

    Each frame is quantised to an adaptive palette as Pillow's one-shot
    ``save`` does, and carries its own colour table; identical consecutive
    frames (a symmetric mesh) are merged into one longer frame, as Pillow
    merges them, up to GIF's longest delay.
    """

    def __init__(self, file, duration):
        self.file = file
        self.duration = duration
        self.pending = None  # (uint8 frame, total duration)
        self.started = False

    def append(self, frame):
        if self.pending is not None:
            previous, duration = self.pending
            if numpy.array_equal(previous, frame) and \
                    duration + self.duration <= MAX_FRAME_DURATION:
                self.pending = (previous, duration + self.duration)
                return
            self._write(previous, duration)
        self.pending = (frame, self.duration)

    def _write(self, frame, duration):
        from PIL import GifImagePlugin
        from PIL import Image
        image = Image.fromarray(frame).convert(
            'P', palette=Image.Palette.ADAPTIVE)
        if not self.started:
            header, _ = GifImagePlugin.getheader(image.copy(),
                                                 info={'loop': 0})
            for chunk in header:
                self.file.write(chunk)
            self.started = True
        for chunk in GifImagePlugin.getdata(image, duration=duration,
                                            include_color_table=True):
            self.file.write(chunk)

    def close(self):
        if self.pending is not None:
            self._write(*self.pending)
            self.pending = None
        self.file.write(b';')  # GIF trailer


def write_frames(path, frames, frame_duration, done=None):
    """Writes ``frames`` (an iterable of uint8 [H, W, 3]) to ``path``: a
    .png (the first frame) or a looping .gif with ``frame_duration`` ms
    per frame. Returns (number of frames, (height, width)).

    The file is written under a temporary name in the same directory and
    renamed over ``path`` when complete
    (:func:`neural_renderer.files.atomic_output`): an error or an
    interrupt (the temporary file is then removed) leaves an earlier
    ``path`` as it was; an existing file keeps its permissions and a
    symbolic link is written through. ``done`` (a list) receives the path
    once the file is complete (see ``atomic_output``).
    """
    import imageio.v3 as iio
    is_png = os.path.splitext(path)[1].lower() == '.png'
    count, shape = 0, None
    with atomic_output(path, done) as temporary, \
            open(temporary, 'wb') as file:
        if is_png:
            frame = next(iter(frames))
            if hasattr(frames, 'close'):
                frames.close()
            iio.imwrite(file, frame, extension='.png')
            count, shape = 1, frame.shape[:2]
        else:
            gif = _GifStream(file, frame_duration)
            for frame in frames:
                gif.append(frame)
                count, shape = count + 1, frame.shape[:2]
            gif.close()
    return count, shape


def render_images(args, azimuths):
    """float images [N, H, W, 3] in [0, 1], one per azimuth (all in
    memory: the command itself streams them with render_frames)."""
    return numpy.stack(list(render_frames(args, azimuths))) / 255.


class Terminated(Exception):
    """SIGTERM or SIGHUP, raised in the main thread so that cleanups
    run."""

    def __init__(self, signum=signal.SIGTERM):
        Exception.__init__(self, signum)
        self.signum = signum


def _on_termination(signum, frame):
    raise Terminated(signum)


# The signals that end a run like Ctrl-C does (the temporary output is
# removed): SIGTERM, and SIGHUP (the terminal closed) where it exists.
_TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in
                             ('SIGTERM', 'SIGHUP') if hasattr(signal, name))


def _one_line(error):
    return ' '.join(str(error).split()) or type(error).__name__


def main(argv=None):
    """Runs the command line ``argv`` (default: sys.argv[1:]); returns the
    exit status."""
    parser = build_parser()
    written = []  # the output's path, once renamed into place
    # SIGTERM and SIGHUP as an exception, so that the temporary output is
    # removed.
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous_handlers = {}
    if on_main_thread:
        for signum in _TERMINATION_SIGNALS:
            previous_handlers[signum] = signal.signal(signum,
                                                      _on_termination)
    try:
        args = parser.parse_args(argv)
        azimuths = _check_arguments(args)
        count, (height, width) = write_frames(
            args.output, render_frames(args, azimuths), args.frame_duration,
            written)
    except SystemExit as e:  # --help, --version
        return e.code or 0
    except UsageError as e:
        print('{}: error: {} (see {} render --help)'.format(
            PROG, _one_line(e), PROG), file=sys.stderr)
        return 2
    except (CliError, OSError, ValueError, MemoryError) as e:
        # load_obj's errors name the file and line; OSError's its path.
        print('{}: error: {}'.format(PROG, _one_line(e)), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Terminated) as e:
        if written:
            # Interrupted after the output was complete: not a failure.
            print('wrote {}'.format(args.output))
            return 0
        if isinstance(e, KeyboardInterrupt):
            print('{}: interrupted'.format(PROG), file=sys.stderr)
            return 130
        print('{}: terminated ({})'.format(
            PROG, signal.Signals(e.signum).name), file=sys.stderr)
        return 128 + e.signum
    finally:
        for signum, previous in previous_handlers.items():
            signal.signal(signum, signal.SIG_DFL if previous is None
                          else previous)
    print('wrote {} ({}x{}, {} {})'.format(
        args.output, width, height, count,
        'frame' if count == 1 else 'frames'))
    return 0


def main_entry():
    """The ``neural-renderer`` console script."""
    sys.exit(main())
