"""Command line tool: render an OBJ mesh to a PNG image or a turntable GIF.

Usage::

    neural-renderer render MESH.obj -o OUT.png [options]
    python -m neural_renderer render MESH.obj -o OUT.gif [options]

What is drawn, and how: see RENDER_DESCRIPTION below (``render --help``).
The mesh is normalised as ``load_obj`` does by default; the camera is placed
with ``get_points_from_angles``.

Errors (bad option values, a missing or malformed mesh, .mtl or texture, an
unwritable output) are reported in one line on stderr with a non-zero exit
status: 2 for bad arguments, 1 for the rest, 130 when interrupted.
"""
import argparse
import math
import os
import sys
import warnings

import numpy

import neural_renderer as nr
import chainer

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


positive_int = _number(int, lambda v: v > 0, 'a positive integer')
positive_float = _number(float, lambda v: v > 0, 'a positive number')
non_negative_float = _number(float, lambda v: v >= 0,
                             'a non-negative number')
finite_float = _number(float, lambda v: True, 'a number')
unit_float = _number(float, lambda v: 0 <= v <= 1, 'a number in [0, 1]')
half_angle = _number(float, lambda v: 0 < v < 90,
                     'an angle in (0, 90) degrees')


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
    add('--distance', type=positive_float, default=2.732,
        help='camera distance from the origin (default: %(default)s)')
    add('--elevation', type=finite_float, default=30., metavar='DEGREES',
        help='camera elevation (default: %(default)s)')
    add('--azimuth', type=finite_float, default=None, metavar='DEGREES',
        help='camera azimuth for a .png (default: 0)')
    add('--azimuth-range', type=finite_float, nargs=3, default=None,
        metavar=('START', 'STOP', 'STEP'),
        help='azimuths of the .gif frames, STOP excluded (default: 0 360 4)')
    add('--frame-duration', type=positive_int, default=40, metavar='MS',
        help='.gif frame duration in milliseconds (default: %(default)s)')
    add('--viewing-angle', type=half_angle, default=30., metavar='DEGREES',
        help='half the vertical field of view (default: %(default)s)')
    add('--ambient', type=non_negative_float, default=0.5,
        help='ambient light intensity (default: %(default)s)')
    add('--directional', type=non_negative_float, default=0.5,
        help='directional light intensity (default: %(default)s)')
    add('--light-direction', type=finite_float, nargs=3, default=[0, 1, 0],
        metavar=('X', 'Y', 'Z'),
        help='world direction toward the light, normalised (default: '
             '0 1 0, from above)')
    add('--ambient-color', type=non_negative_float, nargs=3,
        default=[1, 1, 1], metavar=('R', 'G', 'B'),
        help='ambient light colour (default: 1 1 1)')
    add('--directional-color', type=non_negative_float, nargs=3,
        default=[1, 1, 1], metavar=('R', 'G', 'B'),
        help='directional light colour (default: 1 1 1)')
    add('--background', type=unit_float, nargs=3, default=[0, 0, 0],
        metavar=('R', 'G', 'B'), help='background colour (default: 0 0 0)')
    add('--textures', action='store_true',
        help='colour the mesh from its .mtl (Kd, map_Kd); else white')
    add('--texture-size', type=positive_int, default=4, metavar='T',
        help='texels per face edge with --textures (default: %(default)s)')
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
        if args.textures:
            vertices, faces, textures = nr.load_obj(
                args.mesh, texture_size=args.texture_size, load_texture=True)
        else:
            vertices, faces = nr.load_obj(args.mesh)
            textures = numpy.ones((len(faces), 1, 1, 1, 3), numpy.float32)
    for warning in caught:
        print('{}: warning: {}'.format(PROG, warning.message),
              file=sys.stderr)
    return tuple(xp.asarray(a[None]) for a in (vertices, faces, textures))


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
    renderer.light_direction = list(direction / numpy.linalg.norm(direction))
    return renderer


def _to_cpu(variable):
    return chainer.backend.CpuDevice().send(variable.array)


def _batch(xp, array, size):
    return xp.ascontiguousarray(xp.broadcast_to(array, (size,) +
                                                array.shape[1:]))


def render_images(args, azimuths):
    """float images [N, H, W, 3] in [0, 1], one per azimuth."""
    xp = _select_device(args.gpu)
    vertices, faces, textures = _load_mesh(args, xp)
    renderer = _make_renderer(args)
    background = numpy.asarray(args.background, numpy.float32)
    # Frames are rendered in batches (several times faster than one by one
    # on the CPU), each of at most about BATCH_PIXELS rasterized pixels.
    samples = (args.image_size * (2 if args.anti_aliasing else 1)) ** 2
    batch_size = max(1, min(len(azimuths), BATCH_PIXELS // samples))
    rgbs, depths, alphas = [], [], []
    with chainer.no_backprop_mode():
        for start in range(0, len(azimuths), batch_size):
            chunk = numpy.asarray(azimuths[start:start + batch_size],
                                  numpy.float32)
            renderer.eye = xp.asarray(nr.get_points_from_angles(
                args.distance, args.elevation, chunk))
            v, f, t = (_batch(xp, a, len(chunk))
                       for a in (vertices, faces, textures))
            if args.mode == 'rgb':
                rgb = renderer.render(v, f, t)
                rgbs.append(_to_cpu(rgb).transpose(0, 2, 3, 1))
            elif args.mode == 'silhouette':
                alphas.append(_to_cpu(renderer.render_silhouettes(v, f)))
            else:  # depth and alpha from one pass
                _, depth, alpha = renderer(v, f, t)
                depths.append(_to_cpu(depth))
                alphas.append(_to_cpu(alpha))
    if args.mode == 'rgb':
        return numpy.concatenate(rgbs)
    alpha = numpy.concatenate(alphas)
    if args.mode == 'silhouette':
        grey = numpy.ones_like(alpha)
    else:
        # Anti-aliasing averages depth with the background's ``far``:
        # undo that to get the mean depth of the covered samples.
        covered = alpha > 0
        depth = numpy.where(
            covered, (numpy.concatenate(depths) - (1 - alpha) * renderer.far)
            / numpy.where(covered, alpha, 1), 0)
        nearest = depth[covered].min() if covered.any() else 0
        farthest = depth[covered].max() if covered.any() else 0
        scale = ((1 - DEPTH_FAR_GREY) / (farthest - nearest)
                 if farthest > nearest else 0)
        grey = 1 - (depth - nearest) * scale
    alpha = alpha[..., None]
    return alpha * grey[..., None] + (1 - alpha) * background


def write_images(path, images, frame_duration):
    """Writes a .png (one image) or a looping .gif; returns the path."""
    import imageio.v3 as iio
    frames = (numpy.clip(images, 0, 1) * 255 + 0.5).astype(numpy.uint8)
    if os.path.splitext(path)[1].lower() == '.png':
        iio.imwrite(path, frames[0], extension='.png')
    else:
        # The pillow plugin takes durations in milliseconds. Identical
        # consecutive frames (a symmetric mesh) are merged by Pillow.
        iio.imwrite(path, frames, extension='.gif', duration=frame_duration,
                    loop=0)
    return path


def _one_line(error):
    return ' '.join(str(error).split()) or type(error).__name__


def main(argv=None):
    """Runs the command line ``argv`` (default: sys.argv[1:]); returns the
    exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        azimuths = _check_arguments(args)
        images = render_images(args, azimuths)
        path = write_images(args.output, images, args.frame_duration)
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
    except KeyboardInterrupt:
        print('{}: interrupted'.format(PROG), file=sys.stderr)
        return 130
    count = len(images)
    print('wrote {} ({}x{}, {} {})'.format(
        path, images.shape[2], images.shape[1], count,
        'frame' if count == 1 else 'frames'))
    return 0


def main_entry():
    """The ``neural-renderer`` console script."""
    sys.exit(main())
