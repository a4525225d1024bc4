"""Evaluate single-image reconstruction with the paper's protocol (5.1.1),
next to two baselines, and draw some reconstructions.

Every object of the split is reconstructed from each of its 24 views; each
predicted mesh is voxelized at 32^3 with the authors' protocol
(``voxelize.py``) and compared with the object's voxels by IoU. A class's
score is the mean over its objects x views, the table's mean the mean over
classes (``evaluate_table.py``). Methods:

- the trained model (``--model``: ``model_final.npz`` or a snapshot of
  ``train.py``);
- ``template``: the 642-vertex sphere the decoder deforms, as the decoder
  gives it for zero offsets and a zero centroid (radius 0.25), and the same
  sphere at radius 0.5 (the sphere inscribed in the objects' bounding cube);
  the same prediction for every image;
- ``retrieval``: the nearest training image (Euclidean distance over the 4
  x 64 x 64 RGB + alpha values, all classes searched) gives its object's
  voxels as the prediction;
- ``ptn``: the voxel baseline (``--ptn-model``: ``train.py --model ptn``'s
  ``model_final.npz`` or snapshot): its occupancy grid thresholded, at the
  threshold of the grid ``--thresholds`` that gives the best mean voxel IoU
  on the validation split (as PTN chose its threshold), or at
  ``--ptn-threshold``.

Usage::

    python examples/reconstruction/evaluate.py --data-dir DATA \\
        --model result/model_final.npz -o result/eval

writes ``table.md`` (Table 1's layout), ``ious.npz`` (per method and class,
[N_objects, 24]), ``results.json`` and ``reconstructions.png`` (per class:
the input image, the predicted mesh from three views, the object's own
images from those views). For every pair among the model, PTN and
retrieval it also prints and saves (``differences``, e.g. ``model -
ptn``) their difference in mean IoU with a paired bootstrap standard error
over the split's objects.

``--split-dir`` evaluates split files kept in another folder than
``--data-dir`` (e.g. a larger test split made with ``make_synthetic.py
--only-test``), the training split (retrieval) and the validation split
(PTN's threshold) still coming from ``--data-dir``.
"""
import argparse
import json
import os
import sys
import time

import numpy

import chainer

import neural_renderer as nr  # NOQA: installs the NumPy 2 compatibility
from neural_renderer.files import atomic_output

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataset  # NOQA: E402
import evaluate_table  # NOQA: E402
import model as reconstruction_model  # NOQA: E402
import ptn as ptn_model  # NOQA: E402
import voxelize  # NOQA: E402

METHODS = ('model', 'ptn', 'template', 'retrieval')
# The methods compared pairwise (paired bootstrap), in this order.
COMPARED = ('model', 'ptn', 'retrieval')
# PTN's threshold is searched on this grid (validation split): 0.05 to 0.95
# by 0.05, then 0.975 and 0.99 (a grid trained for a short while is still
# overconfident: its best threshold is high).
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20)) + (0.975, 0.99)
# Views drawn in the pictures (azimuths 0, 120, 240 degrees).
PICTURE_VIEWS = (0, 8, 16)


def predict_voxels(model, images, device, batch_size=64):
    """Voxels of the meshes predicted from ``images`` uint8 [N, 4, S, S]:
    bool [N, 32, 32, 32] in the ground truth's indexing."""
    faces = chainer.backend.CpuDevice().send(model.faces)
    out = []
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].astype(numpy.float32) / 255
            vertices = model.predict(device.send(x)).array
            vertices = chainer.backend.CpuDevice().send(vertices)
            out.append(voxelize.to_ground_truth_axes(
                voxelize.voxelize(vertices, faces)))
    return numpy.concatenate(out)


def predict_occupancy(ptn, images, device, batch_size=64):
    """Occupancy grids of a PTN model from ``images`` uint8 [N, 4, S, S]:
    float32 [N, 32, 32, 32] in the ground truth's indexing."""
    out = []
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].astype(numpy.float32) / 255
            grids = ptn.predict(device.send(x)).array
            out.append(chainer.backend.CpuDevice().send(grids))
    return numpy.concatenate(out)


def thresholded_ious(occupancy, truth, thresholds):
    """Voxel IoUs of ``occupancy`` [N, ...] >= t against bool ``truth`` [N,
    ...] for each t of ``thresholds``: float64 [len(thresholds), N]."""
    occupancy = occupancy.reshape(len(occupancy), -1)
    truth = truth.reshape(len(truth), -1)
    out = numpy.empty((len(thresholds), len(occupancy)))
    for k, t in enumerate(thresholds):
        predicted = occupancy >= t
        inter = (predicted & truth).sum(axis=1)
        union = (predicted | truth).sum(axis=1)
        out[k] = numpy.where(union > 0, inter / numpy.maximum(union, 1), 1.)
    return out


# Validation IoUs closer than this are a tie in the threshold search.
THRESHOLD_TIE = 1e-3


def threshold_warning(search, tie=THRESHOLD_TIE):
    """What to tell the user about a threshold search ({threshold: mean
    validation IoU}), or None: the best threshold at an end of the grid,
    better than its neighbour by more than ``tie`` (a wider grid may score
    higher), or a grid over which the IoU changes by less than ``tie`` (the
    occupancies are nearly 0 or 1: the threshold hardly matters)."""
    if len(search) < 2:
        return None
    thresholds = sorted(search)
    means = [search[t] for t in thresholds]
    if max(means) - min(means) < tie:
        return ('the PTN\'s validation IoU changes by {:.5f} only over '
                '--thresholds ({} to {}): its occupancies are nearly all 0 or '
                '1'.format(max(means) - min(means), thresholds[0],
                           thresholds[-1]))
    best = int(numpy.argmax(means))
    for end, neighbour in ((0, 1), (len(means) - 1, len(means) - 2)):
        if best == end and means[end] - means[neighbour] > tie:
            return ('the PTN threshold {} is at an end of --thresholds; a '
                    'wider grid may score higher'.format(thresholds[end]))
    return None


def choose_threshold(ptn, data_dir, class_ids, device, thresholds=THRESHOLDS,
                     max_objects=None):
    """The threshold of ``thresholds`` with the best mean voxel IoU (the
    table's mean: over classes of the mean over objects x views) of the PTN
    model on the validation split; returns (threshold, {threshold: mean
    IoU})."""
    sums = numpy.zeros(len(thresholds))
    for class_id in class_ids:
        images, voxels = dataset.load_class_split(data_dir, class_id, 'val')
        if max_objects:
            images, voxels = images[:max_objects], voxels[:max_objects]
        flat = images.reshape((-1,) + images.shape[2:])
        occupancy = predict_occupancy(ptn, flat, device)
        truth = numpy.repeat(voxels, dataset.NUM_VIEWS, axis=0)
        sums += thresholded_ious(occupancy, truth, thresholds).mean(axis=1)
    means = sums / len(class_ids)
    best = int(numpy.argmax(means))
    return float(thresholds[best]), {float(t): float(m)
                                     for t, m in zip(thresholds, means)}


def template_voxels(radius):
    """Voxels of the template sphere scaled to ``radius``, [32, 32, 32] in
    the ground truth's indexing."""
    vertices, faces = reconstruction_model.load_template()
    vertices = vertices * numpy.float32(radius / 0.5)
    return voxelize.to_ground_truth_axes(voxelize.voxelize(vertices, faces))


def nearest_neighbours(queries, database, chunk=512):
    """Index of the nearest row of ``database`` [M, D] for each row of
    ``queries`` [N, D] (Euclidean; both uint8 or float), in chunks."""
    database = database.astype(numpy.float32)
    database_norm2 = (database * database).sum(axis=1)
    result = numpy.empty(len(queries), numpy.int64)
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk].astype(numpy.float32)
        # |q - d|^2 without |q|^2, which does not change the argmin.
        distance = database_norm2[None, :] - 2 * q @ database.T
        result[start:start + chunk] = distance.argmin(axis=1)
    return result


def load_model(path, device):
    """A :class:`Reconstructor` from ``model_final.npz`` or a trainer
    snapshot; the encoder's widths and input size are read from the file's
    weights."""
    with numpy.load(path) as npz:
        # A trainer snapshot holds the model under updater/model:main/.
        prefix = '' if 'encoder/conv1/W' in npz.files \
            else 'updater/model:main/'
        try:
            channels, input_size = reconstruction_model.encoder_options(
                npz, prefix)
        except KeyError:
            raise ValueError('model: {} holds no reconstruction model '
                             '(no encoder/conv1/W)'.format(path))
        if ptn_model.is_ptn_file(npz, prefix):
            raise ValueError('model: {} holds a PTN model: pass it with '
                             '--ptn-model'.format(path))
        model = reconstruction_model.Reconstructor(
            encoder_channels=channels, encoder_input_size=input_size)
        chainer.serializers.NpzDeserializer(npz, path=prefix).load(model)
    model.to_device(device)
    return model


def render_views(renderer, vertices, faces, views):
    """RGB images uint8 [len(views), S, S, 3] of one mesh (grey, lit)."""
    textures = numpy.ones((1, len(faces), 2, 2, 2, 3), numpy.float32) * 0.8
    out = []
    for view in views:
        renderer.eye = dataset.view_eyes(int(view))
        with chainer.no_backprop_mode():
            rgb = renderer.render(vertices[None], faces[None], textures)
        out.append(numpy.clip(rgb.array[0].transpose(1, 2, 0) * 255, 0,
                              255).astype(numpy.uint8))
    return numpy.stack(out)


def rgba_to_rgb(image, background=255):
    """uint8 [4, S, S] (RGB + alpha) -> uint8 [S, S, 3] over white."""
    rgb = image[:3].astype(numpy.float32)
    alpha = image[3:4].astype(numpy.float32) / 255
    out = rgb * alpha + background * (1 - alpha)
    return numpy.clip(out, 0, 255).astype(numpy.uint8).transpose(1, 2, 0)


def picture_rows(model, images_by_class, device, input_view=4):
    """One row per class: input, prediction from PICTURE_VIEWS, the
    object's stored images from those views. uint8 [C * S, 7 * S, 3]."""
    renderer = dataset.make_renderer(image_size=64)
    renderer.background_color = [1, 1, 1]
    faces = chainer.backend.CpuDevice().send(model.faces)
    rows = []
    for images in images_by_class:
        obj = images[0]
        x = obj[input_view:input_view + 1].astype(numpy.float32) / 255
        with chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            vertices = model.predict(device.send(x)).array
        vertices = chainer.backend.CpuDevice().send(vertices)[0]
        predicted = render_views(renderer, vertices, faces, PICTURE_VIEWS)
        truth = [rgba_to_rgb(obj[v]) for v in PICTURE_VIEWS]
        tiles = [rgba_to_rgb(obj[input_view])] + list(predicted) + truth
        rows.append(numpy.concatenate(tiles, axis=1))
    return numpy.concatenate(rows, axis=0)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-dir', required=True)
    parser.add_argument('--model', default=None,
                        help='model_final.npz or a train.py snapshot '
                             '(needed for the "model" method and the '
                             'pictures)')
    parser.add_argument('--ptn-model', default=None,
                        help='model_final.npz or a snapshot of train.py '
                             '--model ptn (the "ptn" method)')
    parser.add_argument('--ptn-threshold', type=float, default=None,
                        help='occupancy threshold of the PTN model (default: '
                             'the best of --thresholds on the validation '
                             'split)')
    parser.add_argument('--thresholds',
                        default=','.join(str(t) for t in THRESHOLDS),
                        help='thresholds searched for the PTN model '
                             '(default %(default)s)')
    parser.add_argument('--split-dir', default=None,
                        help='folder of the evaluated split\'s files '
                             '(default: --data-dir, which still gives the '
                             'training split for retrieval and the '
                             'validation split for PTN\'s threshold)')
    parser.add_argument('-o', '--output-dir', default='evaluation')
    parser.add_argument('--split', default='test',
                        choices=dataset.SPLITS)
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names or synset ids '
                             '(default: all 13)')
    parser.add_argument('--methods', default=None,
                        help='comma-separated subset of {} (default: all, '
                             'model and ptn only if their files are '
                             'given)'.format(
                                 ','.join(METHODS)))
    parser.add_argument('--max-objects', type=int, default=None,
                        help='evaluate at most this many objects per class')
    parser.add_argument('--paper-rows', action='store_true',
                        help='put the paper\'s Table 1 rows in the table '
                             '(only meaningful on the real data)')
    parser.add_argument('-g', '--gpu', type=int, default=-1)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.methods is None:
        given = {'model': args.model, 'ptn': args.ptn_model}
        methods = [m for m in METHODS if given.get(m, True)]
    else:
        methods = [m for m in args.methods.split(',') if m]
    for method in methods:
        if method not in METHODS:
            parser.error('--methods: unknown method {!r} (expected some of '
                         '{})'.format(method, ', '.join(METHODS)))
    if 'model' in methods and not args.model:
        parser.error('--model is needed for the "model" method')
    if args.model and not os.path.isfile(args.model):
        parser.error('--model: no file at {}'.format(args.model))
    if 'ptn' in methods and not args.ptn_model:
        parser.error('--ptn-model is needed for the "ptn" method')
    if args.ptn_model and not os.path.isfile(args.ptn_model):
        parser.error('--ptn-model: no file at {}'.format(args.ptn_model))
    try:
        thresholds = tuple(float(t) for t in args.thresholds.split(',') if t)
    except ValueError:
        thresholds = ()
    if not thresholds or not all(0 < t <= 1 for t in thresholds):
        parser.error('--thresholds: expected comma-separated numbers in '
                     '(0, 1], got {!r}'.format(args.thresholds))
    if args.ptn_threshold is not None and not 0 < args.ptn_threshold <= 1:
        parser.error('--ptn-threshold: expected a number in (0, 1]')
    split_dir = args.split_dir or args.data_dir
    if args.max_objects is not None and args.max_objects <= 0:
        parser.error('--max-objects must be positive')
    class_ids = dataset.parse_class_ids(args.classes)
    os.makedirs(args.output_dir, exist_ok=True)
    device = chainer.get_device(args.gpu if args.gpu >= 0 else '@numpy')
    device.use()

    try:
        model = load_model(args.model, device) if args.model else None
        ptn = ptn_model.load(args.ptn_model, device) \
            if 'ptn' in methods else None
    except ValueError as error:
        parser.error(str(error))
    threshold = args.ptn_threshold
    threshold_search = None
    if ptn is not None and threshold is None:
        threshold, threshold_search = choose_threshold(
            ptn, args.data_dir, class_ids, device, thresholds,
            args.max_objects)
        print('ptn: threshold {} (validation mean IoU {:.4f})'.format(
            threshold, threshold_search[threshold]), flush=True)
        message = threshold_warning(threshold_search)
        if message:
            print('evaluate.py: warning: ' + message, file=sys.stderr)
    database = database_voxels = None
    if 'retrieval' in methods:
        train_images, train_voxels, _ = dataset.load_split(
            args.data_dir, class_ids, 'train', as_float=False)
        database = train_images.reshape(-1, train_images[0, 0].size)
        database_voxels = train_voxels
    spheres = {}
    if 'template' in methods:
        spheres = {'template (r 0.25)': template_voxels(0.25),
                   'template (r 0.5)': template_voxels(0.5)}

    ious = {}   # method row name -> class id -> [N, 24]
    images_by_class = []
    start_time = time.time()
    for class_id in class_ids:
        images, voxels = dataset.load_class_split(split_dir, class_id,
                                                  args.split)
        if args.max_objects:
            images, voxels = images[:args.max_objects], \
                voxels[:args.max_objects]
        images_by_class.append(images)
        num_objects = len(images)
        flat = images.reshape((-1,) + images.shape[2:])  # [N * 24, 4, S, S]
        truth = numpy.repeat(voxels, dataset.NUM_VIEWS, axis=0)
        shape = (num_objects, dataset.NUM_VIEWS)
        if model is not None and 'model' in methods:
            predicted = predict_voxels(model, flat, device)
            ious.setdefault('model', {})[class_id] = voxelize.voxel_iou(
                predicted, truth).reshape(shape)
        if ptn is not None:
            occupancy = predict_occupancy(ptn, flat, device)
            ious.setdefault('ptn', {})[class_id] = thresholded_ious(
                occupancy, truth, (threshold,))[0].reshape(shape)
        for name, sphere in spheres.items():
            ious.setdefault(name, {})[class_id] = voxelize.voxel_iou(
                numpy.broadcast_to(sphere, voxels.shape),
                voxels)[:, None].repeat(dataset.NUM_VIEWS, axis=1)
        if database is not None:
            nearest = nearest_neighbours(flat.reshape(len(flat), -1),
                                         database)
            retrieved = database_voxels[nearest // dataset.NUM_VIEWS]
            ious.setdefault('retrieval', {})[class_id] = voxelize.voxel_iou(
                retrieved, truth).reshape(shape)
        print('{} ({}): {} objects, {:.0f} s so far'.format(
            dataset.CLASS_NAMES[class_id], class_id, num_objects,
            time.time() - start_time), flush=True)

    rows = {name: evaluate_table.class_mean_iou(by_class)
            for name, by_class in ious.items()}
    text = evaluate_table.write_table(
        os.path.join(args.output_dir, 'table.md'), rows, args.paper_rows)
    sys.stdout.write(text)
    with atomic_output(os.path.join(args.output_dir, 'ious.npz')) as path:
        numpy.savez(path, **{
            '{}/{}'.format(name, class_id): values
            for name, by_class in ious.items()
            for class_id, values in by_class.items()})
    results = {'split': args.split, 'data_dir': args.data_dir,
               'split_dir': split_dir, 'model': args.model,
               'ptn_model': args.ptn_model, 'rows': rows,
               'seconds': time.time() - start_time}
    if ptn is not None:
        results['ptn_threshold'] = threshold
        results['ptn_threshold_search'] = threshold_search
    differences = evaluate_table.pairwise_differences(
        {m: ious[m] for m in COMPARED if m in ious})
    if differences:
        results['differences'] = differences
        sys.stdout.write(evaluate_table.format_differences(differences))
    if 'model - retrieval' in differences:
        results['model_minus_retrieval'] = differences['model - retrieval']
    with atomic_output(os.path.join(args.output_dir,
                                    'results.json')) as path:
        with open(path, 'w') as f:
            json.dump(results, f, indent=1)
    if model is not None:
        import imageio
        with atomic_output(os.path.join(args.output_dir,
                                        'reconstructions.png')) as path:
            imageio.imwrite(path, picture_rows(model, images_by_class,
                                               device))
    return rows


if __name__ == '__main__':
    main()
