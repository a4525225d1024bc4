"""Train the single-image reconstruction model (paper sec. 4.1) with
Chainer's Trainer, on one process or data-parallel with ChainerMN.

Single process (CPU; ``--gpu 0`` for a GPU)::

    python examples/reconstruction/train.py --data-dir DATA -o result

Multi-process (``pip install -e ".[mpi]"`` first; naive all-reduce on the
CPU, NCCL on GPUs with one process per GPU)::

    mpiexec -n 2 python examples/reconstruction/train.py --data-dir DATA \\
        -o result --communicator naive
    mpiexec -n 4 python examples/reconstruction/train.py --data-dir DATA \\
        -o result --communicator pure_nccl --gpu 0

A killed run continues where it stopped with ``--resume auto`` (the latest
snapshot in the output directory that can be read; unreadable ones, e.g.
cut short by the kill, are named on stderr and skipped): the snapshot holds
the model, Adam's state, the iterator's order and position, the state of
the generator that shuffles each epoch and the log, and everything else
(the learning-rate drop, the view pairs) is a function of the iteration, so
the resumed run computes what the uninterrupted one would have. With
ChainerMN the snapshot is rank 0's; every rank's iterator is saved beside
it (``iterators_iter_N.npz``) and reloaded by its rank. Partial files a
killed run leaves (chainer's ``tmpsnapshot_iter_*`` folders) are removed at
start.

``--model ptn`` trains the voxel baseline of paper Table 1 instead
(``ptn.py``: the same encoder, a 3D deconvolution decoder to a 32^3
occupancy grid and the PTN projection of the grid into the silhouettes),
with the same data, views, loss, validation and snapshots.

Each training example is an object seen from two views a and b of its 24:
the dataset indexes (object, view a) pairs, and view b is a fixed function
of the index (see :class:`ViewPairs`).
"""
import argparse
import os
import re
import shutil
import stat
import sys
import zipfile
import zlib

import numpy

import chainer
from chainer import training
from chainer.training import extensions

import neural_renderer  # NOQA: installs the NumPy 2 compatibility first

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # NOQA: E402
import model as reconstruction_model  # NOQA: E402
import ptn as ptn_model  # NOQA: E402


class ViewPairs(chainer.dataset.DatasetMixin):
    """(object, view a) pairs of uint8 images [N, 24, 4, S, S].

    Example i is object i // 24 seen from view a = i % 24 and a second view
    b != a chosen by a seeded hash of i (fixed for the index, so a resumed
    run sees the pairs an uninterrupted one would). Returns (image_a,
    image_b, eye_a, eye_b): float32 [4, S, S] in [0, 1] and float32 [3]
    cameras from :func:`dataset.view_eyes`.

    With ``views`` K > 2, or per-object ``smoothness_weights`` (float [N]),
    an example is instead a dict for :meth:`model.Reconstructor.
    multi_view_loss`: ``images`` float32 [K, 4, S, S] of views a, b and
    K - 2 further distinct views drawn by the same hash (b is the view of
    K = 2), ``eyes`` float32 [K, 3] and ``smoothness_weights`` (the
    object's weight, float32 scalar; absent without weights).
    """

    def __init__(self, images, seed=0, views=2, smoothness_weights=None):
        if not isinstance(views, (int, numpy.integer)) or \
                not 2 <= views <= dataset.NUM_VIEWS:
            raise ValueError('views: expected an integer from 2 to {}, got '
                             '{!r}'.format(dataset.NUM_VIEWS, views))
        if smoothness_weights is not None:
            smoothness_weights = numpy.asarray(smoothness_weights,
                                               numpy.float32)
            if smoothness_weights.shape != (len(images),):
                raise ValueError(
                    'smoothness_weights: expected one per object [{}], got '
                    '{}'.format(len(images), list(smoothness_weights.shape)))
        self.images = images
        self.seed = seed
        self.views = int(views)
        self.smoothness_weights = smoothness_weights
        self.eyes = numpy.asarray(dataset.view_eyes(
            numpy.arange(dataset.NUM_VIEWS)))

    @property
    def multi_view(self):
        """Whether examples are dicts for ``multi_view_loss``."""
        return self.views > 2 or self.smoothness_weights is not None

    def __len__(self):
        return len(self.images) * dataset.NUM_VIEWS

    def other_views(self, i):
        """The K - 1 views of example i besides view a = i % 24: distinct,
        none equal to a, the first one :meth:`second_view`."""
        rng = numpy.random.RandomState((self.seed * 1000003 + i) % 2 ** 32)
        view_a = i % dataset.NUM_VIEWS
        first = (view_a + 1 + rng.randint(dataset.NUM_VIEWS - 1)) % \
            dataset.NUM_VIEWS
        if self.views == 2:
            return [first]
        rest = [v for v in range(dataset.NUM_VIEWS) if v not in
                (view_a, first)]
        return [first] + [int(v) for v in rng.choice(
            rest, self.views - 2, replace=False)]

    def second_view(self, i):
        return self.other_views(i)[0]

    def get_example(self, i):
        obj, view_a = divmod(i, dataset.NUM_VIEWS)
        views = [view_a] + self.other_views(i)
        scale = numpy.float32(1. / 255)
        if not self.multi_view:
            return (self.images[obj, views[0]].astype(numpy.float32) * scale,
                    self.images[obj, views[1]].astype(numpy.float32) * scale,
                    self.eyes[views[0]], self.eyes[views[1]])
        example = {
            'images': self.images[obj, views].astype(numpy.float32) * scale,
            'eyes': self.eyes[views]}
        if self.smoothness_weights is not None:
            example['smoothness_weights'] = self.smoothness_weights[obj]
        return example


def smoothness_weights_of(labels, class_ids, default, overrides):
    """Per-object smoothness weights float32 [N]: ``default``, except for
    the objects of the classes in ``overrides`` (a string
    'class=weight,...', class names or synset ids, e.g.
    'rifle=0.0003,lamp=0.0003'); ``labels`` [N] index ``class_ids``."""
    weights = numpy.full(len(labels), default, numpy.float32)
    for item in overrides.split(','):
        name, sep, value = item.partition('=')
        try:
            (class_id,) = dataset.parse_class_ids(
                [name.strip()], name='--lambda-smoothness-classes')
            weight = float(value)
        except ValueError as error:
            raise ValueError(
                '--lambda-smoothness-classes: expected class=weight pairs '
                'separated by commas, got {!r} ({})'.format(item, error))
        if not sep or not numpy.isfinite(weight) or weight < 0:
            raise ValueError(
                '--lambda-smoothness-classes: expected class=weight with a '
                'weight >= 0, got {!r}'.format(item))
        if class_id not in class_ids:
            raise ValueError('--lambda-smoothness-classes: class {!r} is not '
                             'among the trained classes'.format(name))
        weights[labels == class_ids.index(class_id)] = weight
    return weights


def learning_rate_schedule(base_rate, drop_at):
    """An extension, run every iteration, that sets Adam's rate from the
    iteration alone: ``base_rate``, times 0.1 from ``drop_at`` on (the
    paper's drop at 95%). Hyperparameters are not part of snapshots; deriving
    them from the iteration makes resumed runs agree."""

    def set_rate(trainer):
        optimizer = trainer.updater.get_optimizer('main')
        factor = 0.1 if trainer.updater.iteration >= drop_at else 1.
        target = base_rate * factor
        if optimizer.alpha != target:
            reconstruction_model.scale_learning_rate(
                optimizer, target / optimizer.alpha)

    # Also run once before the first update (after a resume has set the
    # iteration): a run resumed after the drop starts at the lower rate.
    @training.make_extension(trigger=(1, 'iteration'), priority=200,
                             initializer=set_rate)
    def schedule(trainer):
        set_rate(trainer)

    return schedule


class ShuffleOrderSampler(chainer.iterators.ShuffleOrderSampler):
    """Chainer's shuffling of each epoch, from its own generator
    ``numpy.random.RandomState(seed)`` (not NumPy's global one), whose
    state it serializes: a resumed run shuffles the later epochs as the
    uninterrupted run would. (Chainer's ``SerialIterator`` serializes the
    current order and position, not its sampler's generator.)"""

    def __init__(self, seed):
        super(ShuffleOrderSampler, self).__init__(
            numpy.random.RandomState(seed))
        self.missing_state = False

    def serialize(self, serializer):
        name, keys, position, has_gauss, cached_gaussian = \
            self._random.get_state()
        if isinstance(serializer, chainer.serializer.Deserializer):
            try:
                keys = serializer('keys', keys)
            except KeyError:
                # A snapshot of an older train.py: the epochs after the
                # loaded one are shuffled from the seed's generator.
                self.missing_state = True
                return
        else:
            serializer('keys', keys)
        self._random.set_state((
            name, keys, int(serializer('position', int(position))),
            int(serializer('has_gauss', int(has_gauss))),
            float(serializer('cached_gaussian', float(cached_gaussian)))))


class SerialIterator(chainer.iterators.SerialIterator):
    """Chainer's ``SerialIterator`` whose snapshot also holds the state of
    its order sampler (e.g. :class:`ShuffleOrderSampler`), under
    ``order_sampler/``."""

    def serialize(self, serializer):
        super(SerialIterator, self).serialize(serializer)
        if hasattr(self.order_sampler, 'serialize'):
            self.order_sampler.serialize(serializer['order_sampler'])


def validation_iou(model, images, device, batch_size=16,
                   views=(0, 6, 12, 18)):
    """An extension reporting ``validation/main/iou``: the mean silhouette
    IoU of each validation image's predicted mesh, rendered from that
    image's own view, with the image's mask (binarised at 0.5)."""

    @training.make_extension(priority=training.PRIORITY_WRITER)
    def evaluate(trainer):
        xp = model.xp
        eyes = dataset.view_eyes(numpy.asarray(views))
        ious = []
        with chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            for start in range(0, len(images), batch_size):
                chunk = images[start:start + batch_size]
                for k, view in enumerate(views):
                    x = chunk[:, view].astype(numpy.float32) / 255
                    x = device.send(x)
                    vertices = model.predict(x)
                    eye = xp.asarray(numpy.broadcast_to(
                        eyes[k], (len(chunk), 3)).copy())
                    silhouettes = model.render_silhouettes(vertices,
                                                           eye).array
                    predicted = silhouettes >= 0.5
                    target = model._at_render_size(x[:, 3]) >= 0.5
                    union = (predicted | target).sum(axis=(1, 2))
                    inter = (predicted & target).sum(axis=(1, 2))
                    ious.append(chainer.backend.CpuDevice().send(
                        inter / xp.maximum(union, 1)))
        chainer.report({'validation/main/iou': float(
            numpy.concatenate(ious).mean())})

    return evaluate


SNAPSHOT_NAME = 'snapshot_iter_{.updater.iteration}'
_SNAPSHOT = re.compile(r'snapshot_iter_(\d+)')
# What chainer leaves when a run is killed while writing: the folder its
# snapshot writer saves into before moving the file in place
# (tempfile.mkdtemp(prefix='tmp' + filename), 8 random characters), the
# same for LogReport's log ('log' + 8), and _save_atomically's
# tmpmodel_final.npz.
_PARTIAL = re.compile(r'tmpsnapshot_iter_\d+[a-z0-9_]{8}|'
                      r'tmpmodel_final\.npz|tmpiterators_iter_\d+\.npz')
# With ChainerMN, every rank's iterator state at snapshot N (the snapshot
# itself is rank 0's): iterator_states writes it, load_iterator_state reads
# it.
ITERATORS_NAME = 'iterators_iter_{}.npz'
_PARTIAL_LOG = re.compile(r'log[a-z0-9_]{8}')


def snapshots(output_dir):
    """The snapshots in ``output_dir``, highest iteration first: the
    files named exactly ``snapshot_iter_<digits>`` (others, such as
    ``snapshot_iter_8.bak``, are not snapshots of this run)."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        match = _SNAPSHOT.fullmatch(name)
        path = os.path.join(output_dir, name)
        if match and os.path.isfile(path):
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def latest_snapshot(output_dir):
    """The snapshot of the highest iteration in ``output_dir``, or None."""
    found = snapshots(output_dir)
    return found[0] if found else None


def remove_partial_files(output_dir):
    """Removes what a run killed while writing leaves in ``output_dir``
    (see ``_PARTIAL``; a ``log*`` folder only if it holds nothing but
    LogReport's ``log.json``). Returns the names removed."""
    if not os.path.isdir(output_dir):
        return []
    removed = []
    for name in sorted(os.listdir(output_dir)):
        path = os.path.join(output_dir, name)
        if _PARTIAL.fullmatch(name):
            pass
        elif _PARTIAL_LOG.fullmatch(name) and os.path.isdir(path) and \
                set(os.listdir(path)) <= {'log.json'}:
            pass
        else:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
        removed.append(name)
    return removed


class UnreadableSnapshot(Exception):
    """A snapshot file that cannot be read (empty, cut short, corrupt)."""


def read_snapshot(path):
    """All the arrays of the snapshot ``path`` as a dict (read in full, so
    that a damaged file fails here, before anything is loaded), or
    :class:`UnreadableSnapshot` saying why."""
    try:
        # No pickles: chainer's snapshots of this trainer hold none.
        loaded = numpy.load(path, allow_pickle=False)
        if not isinstance(loaded, numpy.lib.npyio.NpzFile):
            raise ValueError('an .npy array, not an .npz archive')
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile,
            zlib.error) as error:
        raise UnreadableSnapshot('{}: {}'.format(type(error).__name__,
                                                 error))


class AtomicPlotReport(extensions.PlotReport):
    """Chainer's PlotReport, its PNG renamed over the plot once written.

    PlotReport writes its file in place, so a kill while it saved left a
    broken image. This one has it write ``.<name>.partial.png`` (its
    trigger decides when, as before) and renames that over ``<name>``
    right after, so the plot is always a complete image."""

    def __init__(self, *args, **kwargs):
        final = kwargs.pop('file_name', 'plot.png')
        stem, extension = os.path.splitext(final)
        kwargs['file_name'] = '.{}.partial{}'.format(stem, extension)
        extensions.PlotReport.__init__(self, *args, **kwargs)
        self._final_name = final

    def __call__(self, trainer):
        extensions.PlotReport.__call__(self, trainer)
        partial = os.path.join(trainer.out, self._file_name)
        if os.path.exists(partial):
            # As atomic_output: through a symlink, keeping the permissions.
            final = os.path.realpath(os.path.join(trainer.out,
                                                  self._final_name))
            if os.path.exists(final):
                os.chmod(partial, stat.S_IMODE(os.stat(final).st_mode))
            os.replace(partial, final)

    def serialize(self, serializer):
        # Under the plot's own name, as PlotReport stores it: snapshots
        # stay readable both ways.
        partial, self._file_name = self._file_name, self._final_name
        try:
            extensions.PlotReport.serialize(self, serializer)
        finally:
            self._file_name = partial


def resume_from(trainer, resume, output_dir, ignore_names=None,
                warn=True):
    """Loads a snapshot into ``trainer``: ``resume`` is a path (which must
    be readable) or 'auto' (the newest readable snapshot in ``output_dir``,
    unreadable ones named in a warning on stderr; none: the run starts
    from iteration 0). Returns the path loaded, or None. A snapshot that
    is not of this model and these options, or a bad path, is one error
    line (SystemExit)."""
    if resume == 'auto':
        candidates = snapshots(output_dir)
    else:
        if not os.path.isfile(resume):
            raise SystemExit('train.py: error: --resume: no snapshot at '
                             '{}'.format(resume))
        candidates = [resume]
    for path in candidates:
        try:
            arrays = read_snapshot(path)
        except UnreadableSnapshot as error:
            if resume != 'auto':
                raise SystemExit('train.py: error: --resume: cannot read '
                                 'the snapshot {} ({})'.format(path, error))
            if warn:
                print('train.py: warning: skipping the unreadable snapshot '
                      '{} ({})'.format(path, error), file=sys.stderr)
            continue
        try:
            chainer.serializers.NpzDeserializer(
                arrays, ignore_names=ignore_names).load(trainer)
        except (KeyError, ValueError, TypeError) as error:
            raise SystemExit(
                'train.py: error: --resume: {} is not a snapshot of this '
                'model and these options ({}: {})'.format(
                    path, type(error).__name__,
                    str(error).splitlines()[0] if str(error) else ''))
        sampler = trainer.updater.get_iterator('main').order_sampler
        if warn and getattr(sampler, 'missing_state', False):
            print('train.py: warning: {} holds no shuffling state (an older '
                  'train.py wrote it): the epochs after the current one are '
                  'shuffled differently from an uninterrupted run'
                  .format(path), file=sys.stderr)
        return path
    return None


def iterator_states(comm, iterator, output_dir):
    """An extension for every rank of a ChainerMN run: each rank's
    iterator (its shard's order and position, its shuffling generator)
    gathered to rank 0, which writes them next to the snapshot of the same
    iteration (``iterators_iter_N.npz``, keys ``rank<r>/...``, written to
    a temporary name and renamed). Rank 0's snapshot alone holds only its
    own iterator, so without this a resumed run would draw other batches
    on the other ranks."""
    @training.make_extension(priority=training.PRIORITY_WRITER)
    def save(trainer):
        state = {}
        chainer.serializers.DictionarySerializer(state).save(iterator)
        gathered = comm.gather_obj(state)
        if comm.rank != 0:
            return
        arrays = {'rank{}/{}'.format(rank, key): numpy.asarray(value)
                  for rank, states in enumerate(gathered)
                  for key, value in states.items()}
        name = ITERATORS_NAME.format(trainer.updater.iteration)
        path = os.path.join(output_dir, name)
        temporary = os.path.join(output_dir, 'tmp' + name)
        numpy.savez(temporary, **arrays)
        os.replace(temporary, path)
    return save


def load_iterator_state(iterator, snapshot, rank, warn):
    """Loads this rank's iterator state saved with ``snapshot`` by
    :func:`iterator_states`. Without it (or unreadable) the iterator starts
    its shard afresh, with a one-line warning from rank 0: the batches then
    differ from an uninterrupted run's."""
    match = _SNAPSHOT.fullmatch(os.path.basename(snapshot))
    path = os.path.join(os.path.dirname(snapshot),
                        ITERATORS_NAME.format(match.group(1) if match
                                              else 'unknown'))
    try:
        arrays = read_snapshot(path)
        chainer.serializers.NpzDeserializer(
            arrays, path='rank{}/'.format(rank)).load(iterator)
    except (UnreadableSnapshot, KeyError) as error:
        if warn:
            print('train.py: warning: no iterator states next to {} ({}: '
                  '{}): the other ranks start their shards afresh'.format(
                      snapshot, type(error).__name__, error),
                  file=sys.stderr)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-dir', required=True,
                        help='folder of {synset}_{split}_images.npz and '
                             '_voxels.npz (the authors\' files, or '
                             'make_synthetic.py\'s)')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names or synset ids '
                             '(default: all 13)')
    parser.add_argument('-o', '--output-dir', default='result')
    parser.add_argument('--iterations', type=int, default=6000,
                        help='training iterations (default %(default)s, '
                             'about 0.65 s each on the 2-core CPU of the '
                             'README at batch 16; the paper trains '
                             '1,000,000 at batch 64)')
    parser.add_argument('-b', '--batch-size', type=int, default=16,
                        help='objects per iteration and process '
                             '(default %(default)s; paper: 64)')
    parser.add_argument('--learning-rate', type=float, default=3e-4,
                        help='Adam alpha (default %(default)s for the short '
                             'CPU run; paper: 1e-4)')
    parser.add_argument('--lr-drop', type=float, default=0.95,
                        help='fraction of the iterations after which the '
                             'learning rate is multiplied by 0.1 (default '
                             '%(default)s, the paper\'s)')
    parser.add_argument('--lambda-smoothness', type=float, default=0.001,
                        help='weight of the smoothness loss (paper: 0.001 '
                             'for one class, 0 for the 13-class model)')
    parser.add_argument('--encoder-channels', default='64,128,256',
                        help='widths of the encoder\'s three convolutions '
                             '(default %(default)s, the paper\'s; '
                             '32,64,128 is the README\'s CPU run)')
    parser.add_argument('--encoder-input-size', type=int, default=64,
                        help='resolution the encoder reads, the images '
                             'averaged down to it (default %(default)s; 32 '
                             'runs its convolutions on a quarter of the '
                             'pixels)')
    parser.add_argument('--views', type=int, default=2,
                        help='views per object and training example: the '
                             'mesh predicted from each is rendered from all '
                             'of them (default %(default)s, the paper\'s; '
                             '--model mesh only)')
    parser.add_argument('--lambda-smoothness-classes', default=None,
                        help='per-class smoothness weights overriding '
                             '--lambda-smoothness, e.g. '
                             '"rifle=0.0003,lamp=0.0003" (--model mesh only)')
    parser.add_argument('--model', default='mesh', choices=('mesh', 'ptn'),
                        help='mesh: the paper\'s model (default); ptn: the '
                             'voxel baseline of its Table 1 (ptn.py)')
    parser.add_argument('--ptn-decoder-channels',
                        default=','.join(map(str, ptn_model.DECODER_CHANNELS)),
                        help='--model ptn: widths C0, C1, C2 of the voxel '
                             'decoder (default %(default)s)')
    parser.add_argument('--ptn-combine', default='max',
                        choices=ptn_model.COMBINES,
                        help='--model ptn: how the samples along a ray make '
                             'a pixel (default %(default)s, PTN\'s)')
    parser.add_argument('--ptn-samples', type=int,
                        default=ptn_model.DEFAULT_SAMPLES,
                        help='--model ptn: samples per ray (default '
                             '%(default)s)')
    parser.add_argument('--ptn-loss', default='iou', choices=('iou', 'l2'),
                        help='--model ptn: silhouette loss, the mesh '
                             'model\'s IoU loss (default) or PTN\'s squared '
                             'error')
    parser.add_argument('--image-size', type=int, default=64,
                        help='rendered silhouette size (default 64)')
    parser.add_argument('-g', '--gpu', type=int, default=-1)
    parser.add_argument('--resume', default=None,
                        help='a snapshot to continue from, or "auto" for '
                             'the latest in --output-dir')
    parser.add_argument('--snapshot-interval', type=int, default=1000)
    parser.add_argument('--val-interval', type=int, default=500)
    parser.add_argument('--max-val-objects', type=int, default=64,
                        help='validation objects used (default %(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--communicator', default='none',
                        help='ChainerMN communicator (naive on CPU, '
                             'pure_nccl on GPUs); none: one process')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bar (e.g. in logs)')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ('iterations', 'batch_size', 'snapshot_interval',
                 'val_interval', 'image_size', 'ptn_samples'):
        if getattr(args, name) <= 0:
            raise SystemExit('train.py: error: --{} must be positive, got '
                             '{}'.format(name.replace('_', '-'),
                                         getattr(args, name)))
    try:
        encoder_channels = reconstruction_model.check_encoder_channels(
            [int(c) for c in args.encoder_channels.split(',')])
    except ValueError:
        raise SystemExit('train.py: error: --encoder-channels must be three '
                         'comma-separated positive integers, got {!r}'.format(
                             args.encoder_channels))
    try:
        decoder_channels = ptn_model.check_decoder_channels(
            [int(c) for c in args.ptn_decoder_channels.split(',')])
    except ValueError:
        raise SystemExit('train.py: error: --ptn-decoder-channels must be '
                         'three comma-separated positive integers, got '
                         '{!r}'.format(args.ptn_decoder_channels))
    try:
        reconstruction_model.check_encoder_input_size(
            args.encoder_input_size)
    except ValueError:
        raise SystemExit('train.py: error: --encoder-input-size must be a '
                         'positive multiple of 8, got {}'.format(
                             args.encoder_input_size))
    if not 2 <= args.views <= dataset.NUM_VIEWS:
        raise SystemExit('train.py: error: --views must be from 2 to {}, '
                         'got {}'.format(dataset.NUM_VIEWS, args.views))
    if args.model == 'ptn' and (args.views != 2 or
                                args.lambda_smoothness_classes):
        raise SystemExit('train.py: error: --views and '
                         '--lambda-smoothness-classes are options of '
                         '--model mesh')
    if not 0 < args.lr_drop <= 1:
        raise SystemExit('train.py: error: --lr-drop must be in (0, 1], got '
                         '{}'.format(args.lr_drop))
    comm = None
    if args.communicator != 'none':
        import chainermn
        comm = chainermn.create_communicator(args.communicator)
    rank = comm.rank if comm is not None else 0
    gpu = args.gpu
    if comm is not None and gpu >= 0:
        gpu = comm.intra_rank
    device = chainer.get_device(gpu if gpu >= 0 else '@numpy')
    device.use()
    # NumPy's global generator draws the initial weights only (on the CPU,
    # before any resume replaces them); the shuffling has its own generator,
    # saved in the snapshots (ShuffleOrderSampler), and the view pairs are
    # a function of the index.
    numpy.random.seed(args.seed)
    if rank == 0:
        for name in remove_partial_files(args.output_dir):
            print('train.py: removed {}, left by an interrupted run'.format(
                os.path.join(args.output_dir, name)), file=sys.stderr)

    class_ids = dataset.parse_class_ids(args.classes)
    smoothness_weights = None
    if args.lambda_smoothness_classes:
        # Every rank checks the option before the data is scattered: an
        # error on rank 0 alone would leave the other ranks waiting.
        try:
            smoothness_weights_of(numpy.zeros(0, numpy.int32), class_ids,
                                  args.lambda_smoothness,
                                  args.lambda_smoothness_classes)
        except ValueError as error:
            raise SystemExit('train.py: error: {}'.format(error))
    train = val = None
    if rank == 0:
        images, _, labels = dataset.load_split(args.data_dir, class_ids,
                                               'train', as_float=False)
        if args.lambda_smoothness_classes:
            smoothness_weights = smoothness_weights_of(
                labels, class_ids, args.lambda_smoothness,
                args.lambda_smoothness_classes)
        train = ViewPairs(images, seed=args.seed, views=args.views,
                          smoothness_weights=smoothness_weights)
        val_images, _, _ = dataset.load_split(args.data_dir, class_ids,
                                              'val', as_float=False)
        val = val_images[:args.max_val_objects]
    if comm is not None:
        import chainermn
        train = chainermn.scatter_dataset(train, comm, shuffle=True,
                                          seed=args.seed)

    if args.model == 'ptn':
        model = ptn_model.PTN(
            image_size=args.image_size, encoder_channels=encoder_channels,
            encoder_input_size=args.encoder_input_size,
            decoder_channels=decoder_channels, combine=args.ptn_combine,
            samples=args.ptn_samples, loss=args.ptn_loss)
    else:
        model = reconstruction_model.Reconstructor(
            lambda_smoothness=args.lambda_smoothness,
            image_size=args.image_size, encoder_channels=encoder_channels,
            encoder_input_size=args.encoder_input_size)
    if comm is not None:
        # The same initial weights on every process.
        comm.bcast_data(model)
    model.to_device(device)
    optimizer = reconstruction_model.setup_optimizer(model,
                                                     args.learning_rate)
    if comm is not None:
        import chainermn
        optimizer = chainermn.create_multi_node_optimizer(optimizer, comm)

    iterator = SerialIterator(train, args.batch_size,
                              order_sampler=ShuffleOrderSampler(args.seed))
    # Every rank builds its examples alike (the same options), so the
    # loss is chosen from the options, not from rank 0's dataset.
    if args.views > 2 or args.lambda_smoothness_classes:
        loss_func = model.multi_view_loss
    else:
        def loss_func(a, b, ea, eb):
            return model(a, b, ea, eb)
    updater = training.updaters.StandardUpdater(
        iterator, optimizer, device=device, loss_func=loss_func)
    trainer = training.Trainer(updater, (args.iterations, 'iteration'),
                               out=args.output_dir)

    def snapshot_schedule():
        # One trigger per extension: a trigger keeps state between calls.
        return training.triggers.ManualScheduleTrigger(
            list(range(args.snapshot_interval, args.iterations,
                       args.snapshot_interval)) + [args.iterations],
            'iteration')

    trainer.extend(learning_rate_schedule(
        args.learning_rate, int(args.lr_drop * args.iterations)))
    if rank == 0:
        log_trigger = (min(10, args.val_interval), 'iteration')
        trainer.extend(validation_iou(model, val, device),
                       trigger=(args.val_interval, 'iteration'))
        trainer.extend(extensions.LogReport(trigger=log_trigger))
        trainer.extend(extensions.PrintReport(
            ['iteration', 'main/loss', 'main/loss_silhouettes',
             'main/loss_smoothness', 'main/iou', 'validation/main/iou',
             'elapsed_time']))
        trainer.extend(AtomicPlotReport(
            ['main/loss'], x_key='iteration', file_name='loss.png',
            trigger=log_trigger))
        trainer.extend(AtomicPlotReport(
            ['main/iou', 'validation/main/iou'], x_key='iteration',
            file_name='iou.png', trigger=log_trigger))
        # Uncompressed: zlib on the ~300 MB of weights and Adam moments
        # takes far longer than writing them.
        trainer.extend(extensions.snapshot(
            filename=SNAPSHOT_NAME,
            savefun=_save_uncompressed), trigger=snapshot_schedule())
        if not args.no_progress:
            trainer.extend(extensions.ProgressBar(update_interval=1))
    if comm is not None:
        trainer.extend(iterator_states(comm, iterator, args.output_dir),
                       trigger=snapshot_schedule())

    if args.resume:
        # Every process loads rank 0's snapshot: the model, optimizer and
        # iteration count are the same on all of them; with ChainerMN each
        # its own iterator from the states saved beside it.
        loaded = resume_from(
            trainer, args.resume, args.output_dir,
            ignore_names=None if comm is None else _not_iterator,
            warn=rank == 0)
        if loaded is not None and comm is not None:
            load_iterator_state(iterator, loaded, rank, warn=rank == 0)
            # ChainerMN's multi-node optimizer spends the first update of
            # a process on broadcasting the parameters it has not seen
            # (is_changed), without a step: the uninterrupted run did that
            # at iteration 1 only. Every rank loaded the same snapshot, so
            # a resumed process has nothing to broadcast: let it step.
            optimizer.is_changed(model)
    trainer.run()
    if rank == 0:
        path = os.path.join(args.output_dir, 'model_final.npz')
        model.to_device("@numpy")
        _save_atomically(path, model)
        print('wrote', path)
    return trainer


def _save_uncompressed(path, target):
    chainer.serializers.save_npz(path, target, compression=False)


def _save_atomically(path, target):
    """Saves ``target`` to ``tmp<name>`` next to ``path``, then renames it:
    a run killed while writing leaves the earlier file intact (and the
    partial one is removed by the next run's remove_partial_files)."""
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, 'tmp' + name)
    _save_uncompressed(temporary, target)
    os.replace(temporary, path)


def _not_iterator(name):
    # Other ranks hold other shards of the data (ChainerMN scatters with a
    # fixed seed, so each rank's shard is the same on resume): each loads
    # its own iterator from iterators_iter_N.npz instead.
    return name.startswith('updater/iterator:')


if __name__ == '__main__':
    main()
