"""Per-class voxel IoU and a Markdown table shaped like the paper's Table 1.

The protocol (paper 5.1.1): every test object is reconstructed from each of
its 24 views; each reconstruction is voxelized (``voxelize.py``) and compared
with the object's ground-truth voxels by IoU. A class's score is the mean
over its objects x views; the table's "mean" is the mean of the class scores
(every class weighs the same, whatever its number of objects).

Command line: ``python evaluate_table.py ious.npz [more.npz ...] [-o
table.md] [--paper-rows] [--classes rifle,chair]`` where each .npz holds one
array of IoUs per class (any shape, e.g. [N_objects, 24]), keyed by synset id
(one method, named by ``--method``) or by ``method/synset id``
(``evaluate.py``'s ``ious.npz``, several methods). A file given as
``NAME=path.npz`` names its rows: NAME for a file of one method, "NAME
method" for each method of a file of several (so that several runs'
``ious.npz``, each with its "model", fit in one table). ``--classes`` keeps
those classes only: the table's mean and the differences are then over them.
With several methods on the same objects it also prints every pairwise
difference of ``--compare`` (default model, ptn, retrieval) with its paired
bootstrap standard error.
"""
import itertools
import argparse
import numbers
import os
import sys

import numpy

from neural_renderer.files import atomic_output
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The 13 classes in the paper's column order: (synset id, name).
from dataset import CLASSES, CLASS_IDS, CLASS_NAMES  # noqa: E402,F401
from dataset import parse_class_ids  # noqa: E402


def _paper_row(values, mean):
    row = dict(zip(CLASS_IDS, values))
    row['mean'] = mean
    return row


# Paper Table 1 (voxel IoU, 13 classes). The means are the paper's own.
PAPER_ROWS = {
    'Retrieval (paper)': _paper_row(
        (.5564, .4875, .5713, .6519, .3512, .3958, .2905, .4600, .5133,
         .5314, .3097, .6696, .4078), .4766),
    'Voxel-based (PTN) (paper)': _paper_row(
        (.5556, .4924, .6823, .7123, .4494, .5395, .4223, .5868, .5987,
         .6221, .4938, .7504, .5507), .5736),
    'Mesh-based (NMR) (paper)': _paper_row(
        (.6172, .4998, .7143, .7095, .4990, .5831, .4126, .6536, .6322,
         .6735, .4829, .7777, .5645), .6016),
}


def _check_class_id(argument, class_id):
    if class_id not in CLASS_NAMES:
        raise ValueError('{}: unknown class id {!r}; expected one of the 13 '
                         'synset ids {}'.format(argument, class_id,
                                                ', '.join(CLASS_IDS)))


def class_mean_iou(ious_by_class):
    """Mean IoU per class and the mean over classes.

    Args:
        ious_by_class: dict {synset id (str): IoUs}, the IoUs an array-like
            of floats in [0, 1] of any shape (typically [N_objects, 24]: one
            per object and view), non-empty.

    Returns:
        dict {synset id: float mean over that class's IoUs, ...,
        'mean': float mean of the class means}, classes in the paper's
        order.

    Raises:
        ValueError naming the argument (and the class) on an unknown class,
        an empty dict or array, or a value outside [0, 1] / not finite.
    """
    if not isinstance(ious_by_class, dict):
        raise TypeError('ious_by_class: expected a dict, got {}'.format(
            type(ious_by_class).__name__))
    if not ious_by_class:
        raise ValueError('ious_by_class: no classes')
    for class_id in ious_by_class:
        _check_class_id('ious_by_class', class_id)
    result = {}
    for class_id in CLASS_IDS:
        if class_id not in ious_by_class:
            continue
        values = numpy.asarray(ious_by_class[class_id], dtype=numpy.float64)
        where = 'ious_by_class[{!r}]'.format(class_id)
        if values.size == 0:
            raise ValueError('{}: no IoUs'.format(where))
        if not numpy.isfinite(values).all() or values.min() < 0 or \
                values.max() > 1:
            raise ValueError('{}: IoUs must be finite and in [0, 1]'.format(
                where))
        result[class_id] = float(values.mean())
    result['mean'] = float(numpy.mean([result[c] for c in CLASS_IDS
                                       if c in result]))
    return result


def _format_value(value):
    # The paper's style: four decimals without the leading zero (.6172).
    text = '{:.4f}'.format(value)
    return text[1:] if text.startswith('0.') else text


def format_table(rows, include_paper=True):
    """Markdown table shaped like the paper's Table 1.

    Args:
        rows: dict {method name: {synset id: IoU, optional 'mean': IoU}} in
            display order (e.g. a ``class_mean_iou`` result per method).
            Missing classes show as '-'. The mean column is the row's 'mean'
            if given, else the mean of its classes; a mean over fewer than
            the 13 classes is marked with '*' and a note under the table.
        include_paper (bool): put the paper's three rows (Retrieval, PTN,
            NMR as reported) first, for reference.

    Returns:
        str: header (class names in the paper's order, then "mean"), the
        separator line and one line per method, each value as ``.dddd``;
        ends with a newline.
    """
    if not isinstance(rows, dict):
        raise TypeError('rows: expected a dict of dicts (method -> class id '
                        '-> IoU), got {}'.format(type(rows).__name__))
    all_rows = dict(PAPER_ROWS) if include_paper else {}
    for method, row in rows.items():
        if not isinstance(row, dict):
            raise TypeError('rows[{!r}]: expected a dict (class id -> IoU), '
                            'got {}'.format(method, type(row).__name__))
        for key, value in row.items():
            if key != 'mean':
                _check_class_id('rows[{!r}]'.format(method), key)
            if not isinstance(value, numbers.Real) or \
                    not 0 <= value <= 1:
                raise ValueError('rows[{!r}][{!r}]: expected an IoU in '
                                 '[0, 1], got {!r}'.format(method, key, value))
        if method in all_rows:
            raise ValueError('rows: method name {!r} is taken by a paper '
                             'row'.format(method))
        all_rows[method] = row

    lines = ['| method | ' + ' | '.join(n for _, n in CLASSES) + ' | mean |',
             '|---' * (len(CLASSES) + 2) + '|']
    partial = False
    for method, row in all_rows.items():
        present = [row[c] for c in CLASS_IDS if c in row]
        cells = [_format_value(row[c]) if c in row else '-'
                 for c in CLASS_IDS]
        if 'mean' in row:
            mean = _format_value(row['mean'])
        elif present:
            mean = _format_value(float(numpy.mean(present)))
        else:
            mean = '-'
        if len(present) < len(CLASS_IDS) and mean != '-':
            mean += '*'
            partial = True
        lines.append('| {} | {} | {} |'.format(
            method, ' | '.join(cells), mean))
    text = '\n'.join(lines) + '\n'
    if partial:
        text += ('\n(*) mean over the classes evaluated, not all 13: not '
                 'comparable with the paper\'s mean.\n')
    return text


def write_table(path, rows, include_paper=True):
    """Writes ``format_table(rows, include_paper)`` to ``path`` (UTF-8) and
    returns the text."""
    text = format_table(rows, include_paper)
    with atomic_output(path) as temporary:
        with open(temporary, 'w', encoding='utf-8') as f:
            f.write(text)
    return text


def paired_difference(ious_a, ious_b, draws=10000, seed=0):
    """Difference of two methods' mean IoUs on the same objects, with a
    bootstrap over the objects.

    The table's mean is a mean over classes of the mean over each class's
    objects x views, so its sampling noise comes from which objects the
    split holds. Each draw resamples every class's objects with
    replacement, the same objects for both methods (paired), and recomputes
    the difference of the two means.

    Args:
        ious_a, ious_b: dicts {synset id: IoUs [N_objects, ...]} (e.g. one
            per object and view) with the same classes and shapes.
        draws (int): bootstrap draws.
        seed (int): seed of the draws.

    Returns:
        dict: 'difference' (mean of a minus mean of b, as in the table),
        'standard_error' (standard deviation over draws), 'ci95' ([low,
        high], the 2.5 and 97.5 percentiles), 'draws'.
    """
    if not isinstance(ious_a, dict) or not isinstance(ious_b, dict):
        raise TypeError('ious_a, ious_b: expected dicts (class id -> IoUs)')
    if set(ious_a) != set(ious_b) or not ious_a:
        raise ValueError('ious_a, ious_b: expected the same non-empty set of '
                         'classes, got {} and {}'.format(sorted(ious_a),
                                                         sorted(ious_b)))
    if isinstance(draws, bool) or not isinstance(draws, numbers.Integral) \
            or draws < 2:
        raise ValueError('draws: expected an integer >= 2, got {!r}'.format(
            draws))
    rng = numpy.random.RandomState(seed)
    per_class = []
    resampled = numpy.zeros(draws)
    for class_id in CLASS_IDS:
        if class_id not in ious_a:
            continue
        a = numpy.asarray(ious_a[class_id], dtype=numpy.float64)
        b = numpy.asarray(ious_b[class_id], dtype=numpy.float64)
        if a.shape != b.shape or a.ndim == 0 or a.shape[0] == 0:
            raise ValueError('ious_a[{0!r}], ious_b[{0!r}]: expected the same '
                             'non-empty shape [N_objects, ...], got {1} and '
                             '{2}'.format(class_id, a.shape, b.shape))
        # Per-object differences of the means over views.
        d = (a.reshape(len(a), -1) - b.reshape(len(b), -1)).mean(axis=1)
        per_class.append(d.mean())
        resampled += d[rng.randint(len(d), size=(draws, len(d)))].mean(1)
    resampled /= len(per_class)
    return {'difference': float(numpy.mean(per_class)),
            'standard_error': float(resampled.std()),
            'ci95': [float(numpy.percentile(resampled, 2.5)),
                     float(numpy.percentile(resampled, 97.5))],
            'draws': int(draws)}


def pairwise_differences(ious_by_method, draws=10000, seed=0):
    """:func:`paired_difference` of every pair of methods, in the given
    order: for methods (a, b, c), 'a - b', 'a - c' and 'b - c'. Each pair
    uses the same seed, hence the same bootstrap draws of the objects.

    Args:
        ious_by_method: dict {method: {synset id: IoUs [N_objects, ...]}},
            every method on the same classes and objects.

    Returns:
        dict {'a - b': paired_difference(a, b), ...} (empty for fewer than
        two methods).
    """
    return {'{} - {}'.format(a, b): paired_difference(
        ious_by_method[a], ious_by_method[b], draws, seed)
        for a, b in itertools.combinations(list(ious_by_method), 2)}


def format_differences(differences):
    """One line per pair of :func:`pairwise_differences`."""
    return ''.join(
        '{}: {:+.4f} (paired bootstrap over the objects: standard error '
        '{:.4f}, 95% interval [{:+.4f}, {:+.4f}])\n'.format(
            pair, d['difference'], d['standard_error'], *d['ci95'])
        for pair, d in differences.items())


def _split_named_path(argument):
    # 'NAME=path' names a file's rows; an existing file whose name holds
    # '=' stays a plain path.
    if os.path.exists(argument) or '=' not in argument:
        return None, argument
    name, path = argument.split('=', 1)
    if not name:
        raise ValueError('{!r}: expected NAME=path.npz with a non-empty '
                         'NAME'.format(argument))
    return name, path


def read_ious(paths, method='This implementation', classes=None):
    """{method: {synset id: IoUs}} from .npz files keyed by synset id (the
    method ``method``) or ``method/synset id``.

    Args:
        paths: file paths, each optionally as ``NAME=path``: its one method
            is then named NAME, or each of its several methods "NAME
            method".
        method (str): the name of arrays keyed by synset id alone.
        classes: None (every class in the files) or the classes to keep
            (``dataset.parse_class_ids``: names or synset ids); every method
            must have them.

    Raises:
        ValueError on a class given twice for one method, or a kept class
        a method lacks.
    """
    keep = None if classes is None else parse_class_ids(classes, 'classes')
    ious = {}
    for argument in paths:
        name, path = _split_named_path(argument)
        with numpy.load(path) as data:
            arrays = {}
            for key in data.files:
                method_name, _, class_id = key.rpartition('/')
                arrays.setdefault(method_name or method, {})[class_id] = \
                    data[key]
        for method_name, by_class in arrays.items():
            if name is not None:
                method_name = name if len(arrays) == 1 else '{} {}'.format(
                    name, method_name)
            merged = ious.setdefault(method_name, {})
            for class_id, values in by_class.items():
                if class_id in merged:
                    raise ValueError('{}: {} class {} given twice'.format(
                        path, method_name, class_id))
                merged[class_id] = values
    if keep is not None:
        for method_name, by_class in ious.items():
            missing = [CLASS_NAMES[c] for c in keep if c not in by_class]
            if missing:
                raise ValueError('classes: method {!r} lacks {}'.format(
                    method_name, ', '.join(missing)))
            ious[method_name] = {c: by_class[c] for c in keep}
    return ious


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('ious', nargs='+',
                        help='.npz files of IoU arrays keyed by synset id or '
                             'method/synset id')
    parser.add_argument('-o', '--output', help='Markdown file to write')
    parser.add_argument('--method', default='This implementation',
                        help='row name of arrays keyed by synset id alone '
                             '(default: %(default)s)')
    parser.add_argument('--no-paper', action='store_true',
                        help='leave out the paper\'s rows (the default '
                             'unless --paper-rows)')
    parser.add_argument('--paper-rows', action='store_true',
                        help='put the paper\'s rows first')
    parser.add_argument('--classes', default=None,
                        help='comma-separated class names or synset ids to '
                             'keep (default: all in the files); the mean and '
                             'the differences are over these')
    parser.add_argument('--compare', default='model,ptn,retrieval',
                        help='methods compared pairwise, in order (those '
                             'present; default %(default)s)')
    args = parser.parse_args(argv)
    try:
        ious = read_ious(args.ious, args.method, args.classes)
    except ValueError as error:
        parser.error(str(error))
    rows = {name: class_mean_iou(by_class)
            for name, by_class in ious.items()}
    # Before --paper-rows existed the paper's rows were the default with
    # one file of one method; keep that unless asked otherwise.
    single = len(args.ious) == 1 and list(ious) == [args.method]
    include_paper = args.paper_rows or (single and not args.no_paper)
    if args.output:
        text = write_table(args.output, rows, include_paper)
    else:
        text = format_table(rows, include_paper)
    sys.stdout.write(text)
    compared = [m for m in args.compare.split(',') if m in ious]
    differences = pairwise_differences({m: ious[m] for m in compared})
    sys.stdout.write(format_differences(differences))
    return rows


if __name__ == '__main__':
    main()
