"""The single-image reconstruction data: files, views, voxels, batches.

The authors of the paper packaged ShapeNetCore (13 classes) as one pair of
NumPy files per class and split, in ``data_dir``:

- ``{synset}_{split}_images.npz``: one unnamed array (``arr_0``), uint8
  [N, 24, 4, 64, 64]: object, view, channel (R, G, B, alpha), row, column.
  Alpha is soft (anti-aliased); row 0 is the top of the image.
- ``{synset}_{split}_voxels.npz``: one unnamed array, bool [N, 32, 32, 32],
  solid occupancy of the same objects, indexed as described under
  "Voxels" below.

``split`` is ``train``, ``val`` or ``test``. :func:`load_split` reads and
checks them; ``make_synthetic.py`` writes a synthetic data set in exactly
this format, so that everything runs without the real files. A user who has
the real files passes their directory instead.

Views. Objects are centred on their bounding box and scaled so that the
largest dimension is 1 (they fit in [-0.5, 0.5]^3, world y up). View k
(k = 0 .. 23) is nominally "azimuth 15 k degrees" (:data:`VIEW_AZIMUTHS`),
elevation 30 degrees, distance 2.732, perspective with a half viewing angle
of 15 degrees, 64 x 64 pixels. The authors' training code renders view k
with this package's ``get_points_from_angles(2.732, 30, -15 k)``: the
nominal azimuth and the renderer's azimuth have opposite signs. That is the
camera :func:`view_eyes` returns and the one ``make_synthetic.py`` renders
view k from, so a mesh rendered from ``view_eyes(k)`` lines up with stored
image k (the tests check this on an object that is not mirror-symmetric).
In world terms: view 0 looks from -z toward +z (the renderer's default
view), and as k grows the camera turns from -z toward -x (view 6 looks from
-x along +x, view 18 from +x along -x).

Voxels (the authors' evaluation convention; another voxelizer must use the
same one to be compared with these arrays):

- A mesh coordinate v (one axis) maps to grid coordinate
  g = 32 (v 31/32 + 0.5) = 31 v + 16. Voxel index i along that axis covers
  g in [i, i + 1), so its centre is at v = (i - 15.5) / 31: index 0 is
  centred at -0.5 and index 31 at +0.5, 1/31 apart.
- The stored array is indexed [a, b, c] = [y index, x index, 31 - z index]
  relative to the mesh axes, i.e. ``grid_xyz.transpose(1, 0, 2)[:, :, ::-1]``
  of a grid indexed [x, y, z] (:func:`xyz_grid_to_voxels`). Voxel
  [a, b, c] is therefore centred at mesh point
  (x, y, z) = ((b - 15.5) / 31, (a - 15.5) / 31, (15.5 - c) / 31)
  (:func:`voxel_centres`).
"""
import math
import os

import numpy

import neural_renderer as nr
import chainer

# The 13 ShapeNetCore classes of the paper, in its order (Table 1).
CLASSES = (
    ('02691156', 'airplane'),
    ('02828884', 'bench'),
    ('02933112', 'dresser'),
    ('02958343', 'car'),
    ('03001627', 'chair'),
    ('03211117', 'display'),
    ('03636649', 'lamp'),
    ('03691459', 'speaker'),
    ('04090263', 'rifle'),
    ('04256520', 'sofa'),
    ('04379243', 'table'),
    ('04401088', 'phone'),
    ('04530566', 'vessel'),
)
CLASS_IDS = tuple(synset for synset, _ in CLASSES)
CLASS_NAMES = dict(CLASSES)
SPLITS = ('train', 'val', 'test')

# Views (see the module docstring for the sign of the azimuth).
NUM_VIEWS = 24
AZIMUTH_STEP = 15.
VIEW_AZIMUTHS = tuple(AZIMUTH_STEP * k for k in range(NUM_VIEWS))
ELEVATION = 30.
DISTANCE = 2.732
VIEWING_ANGLE = 15.
IMAGE_SIZE = 64
VOXEL_SIZE = 32


def image_path(data_dir, class_id, split):
    return os.path.join(data_dir, '%s_%s_images.npz' % (class_id, split))


def voxel_path(data_dir, class_id, split):
    return os.path.join(data_dir, '%s_%s_voxels.npz' % (class_id, split))


# -- classes ---------------------------------------------------------------

def parse_class_ids(classes, name='class_ids'):
    """Synset ids from ``classes``: None (all 13), a comma-separated string
    or a sequence of synset ids and/or class names ('chair'). Returns a
    tuple of synset ids (str) in the given order; raises ValueError naming
    ``name`` for an unknown class, a repeated one, or an empty list."""
    if classes is None:
        return CLASS_IDS
    if isinstance(classes, str):
        classes = [c for c in classes.split(',') if c.strip()]
    by_name = {n: s for s, n in CLASSES}
    result = []
    for c in classes:
        c = str(c).strip()
        synset = by_name.get(c.lower(), c)
        if synset not in CLASS_NAMES:
            raise ValueError(
                '{}: unknown class {!r}; expected synset ids or names among '
                '{}'.format(name, c, ', '.join(
                    '%s (%s)' % cls for cls in CLASSES)))
        if synset in result:
            raise ValueError('{}: class {!r} given twice'.format(name, c))
        result.append(synset)
    if not result:
        raise ValueError('{}: expected at least one class'.format(name))
    return tuple(result)


def _check_split(split):
    if split not in SPLITS:
        raise ValueError('split: expected one of {}, got {!r}'.format(
            ', '.join(SPLITS), split))


# -- cameras ---------------------------------------------------------------

def render_azimuths(view_ids):
    """The renderer azimuth (degrees) of view k: -15 k (see the module
    docstring). ``view_ids`` an int or int array; returns float / float32
    array of the same shape."""
    if isinstance(view_ids, (int, numpy.integer)):
        return -AZIMUTH_STEP * int(view_ids)
    return (-AZIMUTH_STEP * numpy.asarray(view_ids)).astype(numpy.float32)


def view_eyes(view_ids, xp=numpy):
    """Camera positions (renderer ``eye``) of views ``view_ids``.

    Args:
        view_ids: an int in [0, 24) or an integer array [B] (NumPy or CuPy).
        xp: the array module of the result for array input (numpy or cupy).

    Returns:
        for an int, a tuple of 3 floats; for an array, float32 [B, 3] world
        coordinates (y up): ``get_points_from_angles(2.732, 30, -15 k)``.
    """
    if isinstance(view_ids, (int, numpy.integer)):
        k = int(view_ids)
        if not 0 <= k < NUM_VIEWS:
            raise ValueError('view_ids: expected views in [0, {}), got {}'
                             .format(NUM_VIEWS, k))
        return nr.get_points_from_angles(DISTANCE, ELEVATION,
                                         render_azimuths(k))
    ids = chainer.backend.CpuDevice().send(view_ids)
    ids = numpy.asarray(ids)
    if ids.dtype.kind not in 'iu':
        raise TypeError('view_ids: expected integers, got {}'.format(
            ids.dtype))
    if ids.size and (ids.min() < 0 or ids.max() >= NUM_VIEWS):
        raise ValueError('view_ids: expected views in [0, {}), got values '
                         'from {} to {}'.format(NUM_VIEWS, ids.min(),
                                                ids.max()))
    azimuth = math.pi / 180. * render_azimuths(ids).astype(numpy.float64)
    elevation = math.radians(ELEVATION)
    # The formula of get_points_from_angles, in float64 then rounded once.
    eyes = numpy.stack((
        DISTANCE * math.cos(elevation) * numpy.sin(azimuth),
        numpy.full(ids.shape, DISTANCE * math.sin(elevation)),
        -DISTANCE * math.cos(elevation) * numpy.cos(azimuth)), axis=-1)
    return xp.asarray(eyes.astype(numpy.float32))


def make_renderer(image_size=IMAGE_SIZE):
    """An ``nr.Renderer`` set up like the data's views: ``image_size``
    pixels, anti-aliasing, half viewing angle 15 degrees, back faces
    filled, default lighting (ambient 0.5, directional 0.5 from above),
    black background. Set its ``eye`` from :func:`view_eyes`."""
    renderer = nr.Renderer()
    renderer.image_size = image_size
    renderer.anti_aliasing = True
    renderer.viewing_angle = VIEWING_ANGLE
    renderer.fill_back = True
    renderer.eye = view_eyes(0)
    return renderer


# -- voxels ----------------------------------------------------------------

def voxel_centres(size=VOXEL_SIZE):
    """Mesh coordinates of the voxel centres: float32 [size, size, size, 3]
    with entry [a, b, c] = (x, y, z) of voxel [a, b, c] of a stored voxel
    array (a: y index, b: x index, c: 31 - z index; see the module
    docstring). Along each axis the centres are (i - (size - 1) / 2) /
    (size - 1), from -0.5 to +0.5."""
    t = (numpy.arange(size) - (size - 1) / 2.) / (size - 1)
    a, b, c = numpy.meshgrid(t, t, t[::-1], indexing='ij')
    return numpy.stack((b, a, c), axis=-1).astype(numpy.float32)


def xyz_grid_to_voxels(grid):
    """An occupancy grid indexed [..., x, y, z] (voxel i centred at mesh
    coordinate (i - 15.5) / 31 on each axis) -> the stored layout
    [..., y, x, 31 - z]. Returns a view of ``grid``."""
    grid = numpy.asarray(grid) if not isinstance(
        grid, chainer.get_array_types()) else grid
    if grid.ndim < 3:
        raise ValueError('grid: expected shape [..., X, Y, Z], got {}'
                         .format(tuple(grid.shape)))
    return grid.swapaxes(-3, -2)[..., ::-1]


def points_to_voxel_indices(points, size=VOXEL_SIZE):
    """Stored-layout indices (a, b, c) of the voxels containing mesh points
    ``points`` [..., 3] (x, y, z): int64 [..., 3]. Points outside the grid
    give indices outside [0, size)."""
    points = numpy.asarray(points, dtype=numpy.float64)
    if points.shape[-1:] != (3,):
        raise ValueError('points: expected shape [..., 3], got {}'.format(
            points.shape))
    g = numpy.floor(size * (points * (size - 1.) / size + 0.5)).astype(
        numpy.int64)
    return numpy.stack((g[..., 1], g[..., 0], size - 1 - g[..., 2]), axis=-1)


# -- files -----------------------------------------------------------------

def _read_npz(path, what, expected_dtype, expected_tail):
    """The single array ``arr_0`` of ``path``, checked: dtype and shape
    [N] + expected_tail. ``what`` describes the file in errors."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            '{}: {} file not found (make a synthetic data set with '
            'examples/reconstruction/make_synthetic.py, or point --data-dir '
            'at the authors\' files)'.format(path, what))
    expected = '{} [N, {}]'.format(
        numpy.dtype(expected_dtype).name,
        ', '.join(str(s) for s in expected_tail))
    try:
        with numpy.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            array = npz['arr_0'] if names == ['arr_0'] else None
    except Exception as e:  # not a zip, truncated, pickled objects...
        raise ValueError('{}: cannot read as an .npz file of {} ({}: {})'
                         .format(path, expected, type(e).__name__, e))
    if array is None:
        raise ValueError('{}: expected one unnamed array (arr_0) holding {}, '
                         'found arrays {}'.format(path, expected, names))
    if array.dtype != expected_dtype or array.ndim != len(expected_tail) + 1 \
            or tuple(array.shape[1:]) != tuple(expected_tail):
        raise ValueError('{}: expected {}, got {} {}'.format(
            path, expected, array.dtype, list(array.shape)))
    return array


def load_class_split(data_dir, class_id, split, image_size=IMAGE_SIZE):
    """Images uint8 [N, 24, 4, S, S] and voxels bool [N, 32, 32, 32] of one
    class and split, as stored (S = ``image_size``); see :func:`load_split`
    for the errors."""
    _check_split(split)
    images = _read_npz(image_path(data_dir, class_id, split), 'images',
                       numpy.uint8, (NUM_VIEWS, 4, image_size, image_size))
    voxels = _read_npz(voxel_path(data_dir, class_id, split), 'voxels',
                       numpy.bool_, (VOXEL_SIZE,) * 3)
    if len(images) != len(voxels):
        raise ValueError(
            '{} and {}: expected the same number of objects, got {} images '
            'and {} voxel grids'.format(
                image_path(data_dir, class_id, split),
                voxel_path(data_dir, class_id, split), len(images),
                len(voxels)))
    return images, voxels


def load_split(data_dir, class_ids=None, split='train', as_float=True,
               image_size=IMAGE_SIZE):
    """Loads one split of several classes, concatenated in class order.

    Args:
        data_dir (str): directory holding the ``.npz`` files.
        class_ids: None for the 13 classes, or synset ids / names as a
            sequence or comma-separated string (see :func:`parse_class_ids`).
        split (str): 'train', 'val' or 'test'.
        as_float (bool): True (default) returns images as float32 in
            [0, 1] (stored value / 255); False keeps the stored uint8, a
            quarter of the memory (the real training split of all classes
            is about 45 GB as float32; :class:`ViewPairSampler` converts
            batch by batch).
        image_size (int): the expected image size S (64 for the authors'
            files).

    Returns:
        (images, voxels, labels): images float32 (or uint8) [N, 24, 4, S,
        S], view-major per object, channels R, G, B, alpha; voxels bool
        [N, 32, 32, 32] in the stored layout (module docstring); labels
        int32 [N], the position of each object's class in the returned
        order of ``class_ids`` (i.e. ``parse_class_ids(class_ids)``).

    Raises:
        FileNotFoundError: ``data_dir`` is not a directory, or a file is
            missing (the message names the file).
        ValueError: unknown class or split; a file that is not an .npz with
            a single ``arr_0`` of the expected dtype and shape (the message
            names the file and what was expected); image and voxel files
            with different object counts.
    """
    class_ids = parse_class_ids(class_ids)
    _check_split(split)
    if not os.path.isdir(data_dir):
        raise FileNotFoundError('data_dir: {!r} is not a directory'.format(
            data_dir))
    all_images, all_voxels, labels = [], [], []
    for label, class_id in enumerate(class_ids):
        images, voxels = load_class_split(data_dir, class_id, split,
                                          image_size)
        all_images.append(images)
        all_voxels.append(voxels)
        labels.append(numpy.full(len(images), label, numpy.int32))
    images = numpy.concatenate(all_images)
    if as_float:
        images = images.astype(numpy.float32)
        images /= 255.
    return images, numpy.concatenate(all_voxels), numpy.concatenate(labels)


# -- batches ---------------------------------------------------------------

class ViewPairSampler(object):
    """Training batches as in the paper: random objects, two random views.

    Each batch draws ``batch_size`` objects uniformly with replacement and,
    for each, views a and b independently and uniformly from the 24 (they
    may coincide), from a ``numpy.random.Generator`` seeded with ``seed``:
    the same seed gives the same sequence of batches.

    Args:
        images: [N, 24, 4, S, S] uint8 (converted to float32 / 255 per
            batch) or float32 in [0, 1], as from :func:`load_split`.
        seed (int): seed of the sampler's random generator.
        xp: array module of the returned images and view ids (numpy or
            cupy).

    ``sample(batch_size)`` returns (images_a, images_b, view_ids_a,
    view_ids_b, object_ids): images float32 [B, 4, S, S] in [0, 1],
    view ids int32 [B], object ids int64 [B] (NumPy). The cameras are
    ``view_eyes(view_ids_a, xp)``.
    """

    def __init__(self, images, seed=0, xp=numpy):
        if not isinstance(images, numpy.ndarray) or images.ndim != 5 or \
                images.shape[1:3] != (NUM_VIEWS, 4) or \
                images.dtype not in (numpy.uint8, numpy.float32):
            raise ValueError(
                'images: expected a NumPy uint8 or float32 array [N, 24, 4, '
                'S, S], got {} {}'.format(
                    getattr(images, 'dtype', type(images).__name__),
                    list(getattr(images, 'shape', ()))))
        if len(images) == 0:
            raise ValueError('images: expected at least one object')
        self.images = images
        self.xp = xp
        self.random = numpy.random.default_rng(seed)

    def __len__(self):
        return len(self.images)

    def _take(self, object_ids, view_ids):
        batch = self.images[object_ids, view_ids]
        if batch.dtype == numpy.uint8:
            batch = batch.astype(numpy.float32) / numpy.float32(255)
        return self.xp.asarray(batch)

    def sample(self, batch_size):
        if not isinstance(batch_size, (int, numpy.integer)) or \
                batch_size <= 0:
            raise ValueError('batch_size: expected a positive integer, got '
                             '{!r}'.format(batch_size))
        object_ids = self.random.integers(0, len(self.images), batch_size)
        view_ids_a = self.random.integers(0, NUM_VIEWS, batch_size).astype(
            numpy.int32)
        view_ids_b = self.random.integers(0, NUM_VIEWS, batch_size).astype(
            numpy.int32)
        return (self._take(object_ids, view_ids_a),
                self._take(object_ids, view_ids_b),
                self.xp.asarray(view_ids_a), self.xp.asarray(view_ids_b),
                object_ids)


def iterate_views(images, batch_size):
    """Every (object, view) pair in order, for evaluation: yields
    (images float32 [b, 4, S, S] in [0, 1], object_ids int64 [b],
    view_ids int32 [b]) with b <= ``batch_size``; pairs are ordered object
    by object, view 0 to 23 (row = object * 24 + view)."""
    if not isinstance(batch_size, (int, numpy.integer)) or batch_size <= 0:
        raise ValueError('batch_size: expected a positive integer, got '
                         '{!r}'.format(batch_size))
    flat = images.reshape((-1,) + images.shape[2:])
    for start in range(0, len(flat), batch_size):
        rows = numpy.arange(start, min(start + batch_size, len(flat)))
        batch = flat[rows]
        if batch.dtype == numpy.uint8:
            batch = batch.astype(numpy.float32) / numpy.float32(255)
        yield batch, rows // NUM_VIEWS, (rows % NUM_VIEWS).astype(
            numpy.int32)
