"""What the examples share: arguments, device, images, GIFs, plots, IoU.

Kept out of the package: these are conveniences for the example scripts,
not part of the renderer's API. Every file goes through
``neural_renderer.files.atomic_output`` (a temporary name, then a rename).
"""
import os

import imageio.v2 as imageio
import numpy

import neural_renderer as nr
import chainer
import chainer.functions as F

from neural_renderer.files import atomic_output

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, '..', 'data'))
DEFAULT_OUTPUT_DIR = os.path.join(HERE, 'output')


def add_common_arguments(parser, image_size, iterations=None):
    """--output-dir, --gpu, --image-size and (for optimisations)
    --iterations, with the example's own defaults."""
    parser.add_argument('-o', '--output-dir', default=DEFAULT_OUTPUT_DIR,
                        help='where to write the outputs (default: '
                             '%(default)s)')
    parser.add_argument('-g', '--gpu', type=int, default=-1,
                        help='GPU id; -1 runs on the CPU (default)')
    parser.add_argument('--image-size', type=positive_int, default=image_size,
                        help='rendered image size in pixels (default: '
                             '%(default)s)')
    if iterations is not None:
        parser.add_argument('--iterations', type=positive_int,
                            default=iterations,
                            help='optimisation steps (default: %(default)s)')
    return parser


def add_optimisation_arguments(parser, reference, learning_rate, what):
    """-r/--filename-ref (default data/REFERENCE) and --learning-rate of
    the optimisation examples (2 to 4)."""
    parser.add_argument('-r', '--filename-ref',
                        default=os.path.join(DATA, reference),
                        help='{} (default: %(default)s)'.format(what))
    parser.add_argument('--learning-rate', type=float,
                        default=learning_rate,
                        help='Adam step size (default: %(default)s)')


def positive_int(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected an integer, got '
                                         '{!r}'.format(text))
    if value <= 0:
        raise argparse.ArgumentTypeError('expected a positive integer, got '
                                         '{}'.format(value))
    return value


def select_device(gpu):
    """The array module for ``gpu`` (-1: numpy), making that GPU current."""
    if gpu < 0:
        return numpy
    import cupy
    chainer.backends.cuda.get_device_from_id(gpu).use()
    return cupy


def to_cpu(array):
    if isinstance(array, chainer.Variable):
        array = array.array
    return chainer.backend.CpuDevice().send(array)


def to_uint8(image):
    """[3, H, W] or [H, W] floats in [0, 1] -> uint8 [H, W, 3] / [H, W]."""
    image = to_cpu(image)
    if image.ndim == 3:
        image = image.transpose(1, 2, 0)
    return (numpy.clip(image, 0, 1) * 255 + 0.5).astype(numpy.uint8)


def save_gif(path, frames, frame_ms=40, comment=None):
    """Writes uint8 frames as a looping GIF, ``frame_ms`` milliseconds per
    frame (Pillow merges identical consecutive frames), with ``comment``
    (str) in the GIF's comment extension if given; returns the path."""
    import imageio.v3 as iio
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    extra = {} if comment is None else {'comment': comment.encode('utf-8')}
    with atomic_output(path) as temporary:
        iio.imwrite(temporary, numpy.stack(frames), extension='.gif',
                    duration=frame_ms, loop=0, **extra)
    return path


def save_image(path, image):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_output(path) as temporary:
        imageio.imwrite(temporary, image)
    return path


def plot_loss(path, losses, title='loss', log_scale=False):
    """A PNG of the loss curve (matplotlib, no display needed).

    ``losses``: one sequence of values per iteration, or a dict from labels
    to such sequences (one curve each, with a legend)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(5, 3.2), dpi=100)
    if isinstance(losses, dict):
        for label, values in losses.items():
            axes.plot(numpy.arange(1, len(values) + 1), values, label=label)
        axes.legend(fontsize='small')
    else:
        axes.plot(numpy.arange(1, len(losses) + 1), losses)
    axes.set_xlabel('iteration')
    axes.set_ylabel('loss')
    axes.set_title(title)
    if log_scale:
        axes.set_yscale('log')
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_output(path) as temporary:
        figure.savefig(temporary)
    plt.close(figure)
    return path


class SilhouetteFit(chainer.Link):
    """A mesh's silhouette against a reference (examples 2 and 4):
    ``silhouettes()`` renders it, calling the link gives the squared error.
    Subclasses set ``vertices`` (a Parameter, or an array) and the camera
    (``renderer.eye``).

    Args:
        faces: [1, F, 3] int32; reference: [S, S] floats; image_size: S.
    """

    def __init__(self, faces, reference, image_size):
        super(SilhouetteFit, self).__init__()
        self.faces = faces
        self.reference = reference
        self.renderer = nr.Renderer()
        self.renderer.image_size = image_size

    def silhouettes(self):
        return self.renderer.render_silhouettes(self.vertices, self.faces)

    def __call__(self):
        return F.sum(F.square(self.silhouettes() - self.reference[None]))


def optimise(model, optimizer, iterations, description, frame_every,
             frame, stop=None):
    """Adam steps on ``model()`` (a loss Variable): returns the losses and
    the frames (``frame()``, under no_backprop_mode, every
    ``frame_every`` steps), stopping early once ``stop(loss)`` holds."""
    losses, frames = [], []
    for i in progress(iterations, description):
        loss = model()
        model.cleargrads()
        loss.backward()
        optimizer.update()
        losses.append(float(loss.array))
        if i % frame_every == 0:
            with chainer.no_backprop_mode():
                frames.append(frame())
        if stop is not None and stop(losses[-1]):
            break
    return losses, frames


def silhouette_iou(a, b, threshold=0.5):
    """IoU of two masks (arrays or Variables of one shape), each binarised
    at ``threshold``: anti-aliased edge pixels count when at least half
    covered."""
    a, b = to_cpu(a) >= threshold, to_cpu(b) >= threshold
    union = numpy.logical_or(a, b).sum()
    return float(numpy.logical_and(a, b).sum() / union) if union else 1.0


def load_reference(path, image_size, colour=False):
    """A reference PNG as float32 in [0, 1], resized (box filter) to
    ``image_size``: [H, W] grey, or [3, H, W] with ``colour``."""
    from PIL import Image
    image = Image.open(path).convert('RGB' if colour else 'L')
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.BOX)
    array = numpy.asarray(image, numpy.float32) / 255
    return array.transpose(2, 0, 1).copy() if colour else array


def load_teapot(xp):
    """The teapot as xp arrays vertices [1, V, 3] float32, faces [1, F, 3]
    int32."""
    vertices, faces = nr.load_obj(os.path.join(DATA, 'teapot.obj'))
    return xp.asarray(vertices[None]), xp.asarray(faces[None])


def progress(iterations, description):
    """tqdm over range(iterations), on stderr."""
    import tqdm
    return tqdm.trange(iterations, desc=description, dynamic_ncols=True)


def turntable(renderer, vertices, faces, textures, distance=2.732,
              elevation=30, step=4):
    """uint8 frames of the mesh seen from azimuth 0, step, ... < 360."""
    frames = []
    with chainer.no_backprop_mode():
        for azimuth in range(0, 360, step):
            renderer.eye = nr.get_points_from_angles(distance, elevation,
                                                     azimuth)
            images = renderer.render(vertices, faces, textures)
            frames.append(to_uint8(images.array[0]))
    return frames
