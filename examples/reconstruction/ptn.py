"""The voxel baseline of paper Table 1: Perspective Transformer Nets (PTN,
Yan et al. 2016), trained as the paper compares it with the mesh model.

- the same encoder as the mesh model (:class:`model.Encoder`, the same
  widths option), image [B, 4, 64, 64] -> [B, 512];
- :class:`VoxelDecoder`: a fully connected layer to a 3 x 3 x 3 x C0
  volume and three 3D transposed convolutions (4 x 4 x 4, stride 2) to a
  32^3 occupancy grid in (0, 1) (sigmoid), 3 -> 8 -> 16 -> 32;
- :func:`project`: a differentiable perspective projection of the grid
  into silhouettes seen from the mesh model's cameras (the PTN
  projection): for each pixel, points along its camera ray inside the grid
  are sampled trilinearly and combined by their maximum (PTN's choice,
  ``combine='max'``) or by ``1 - prod(1 - v)`` (``combine='prod'``, see
  :func:`project`);
- :class:`PTN`: encoder + decoder + projection, with the mesh model's
  training loss (the silhouette IoU loss of the two views of each object,
  each grid seen from both cameras) and the same interface as
  :class:`model.Reconstructor`, so that ``train.py --model ptn`` trains it
  with the same Trainer, data, views and snapshots.

The grid is indexed as the data's voxels ([y, x, 31 - z], voxel [a, b, c]
centred at mesh point ((b - 15.5) / 31, (a - 15.5) / 31, (15.5 - c) / 31);
see dataset.py), so a predicted grid thresholded is compared with the
ground truth as it is, and the projection places it where the renderer
places a mesh in the same coordinates.

Cameras and pixels are the renderer's (``neural_renderer.look_at`` and
``perspective``): camera z = normalize(at - eye) with at the origin, x =
normalize(up x z), y = z x x; pixel (row i, column j) of an S x S image is
centred at NDC (x, y) = ((2j + 1 - S) / S, (S - 1 - 2i) / S) (row 0 the
top), which the camera sees along the ray eye + t (z + tan(angle) (x_ndc x
+ y_ndc y)), t the camera depth.
"""
import math
import os
import sys

import numpy

import chainer
from chainer import backend
from chainer import function_node
import chainer.functions as F
import chainer.links as L

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import dataset  # NOQA: E402
import model as reconstruction_model  # NOQA: E402

GRID = dataset.VOXEL_SIZE  # 32
# Voxel pitch in mesh units: centres of voxels 0 and 31 at -0.5 and +0.5.
PITCH = 1. / (GRID - 1)
# The trilinear field of a grid (zero outside it) vanishes one pitch beyond
# the outermost centres: rays are sampled inside this cube.
HALF_EXTENT = 0.5 + PITCH
COMBINES = ('max', 'prod')
# (C0, C1, C2) of VoxelDecoder. Chainer's CPU 3D (de)convolutions are
# slow (transposing copies around tensordot): at batch 8 on one core a
# training step takes about 0.35 s with these widths, 0.59 s with (256, 64,
# 32) and 0.71 s with (512, 128, 32), against 0.23 s for the mesh model with
# the half-width encoder.
DECODER_CHANNELS = (128, 32, 16)
DEFAULT_SAMPLES = 48


def camera_rays(eye, image_size=dataset.IMAGE_SIZE,
                viewing_angle=dataset.VIEWING_ANGLE, up=(0., 1., 0.)):
    """The renderer's look-at camera at ``eye`` (looking at the origin):
    float64 directions [S * S, 3] of the rays through the pixel centres,
    row-major from the top row, scaled so that the camera depth of ``eye +
    t d`` is t."""
    eye = numpy.asarray(eye, numpy.float64)
    z = -eye / numpy.linalg.norm(eye)
    x = numpy.cross(numpy.asarray(up, numpy.float64), z)
    x /= numpy.linalg.norm(x)
    y = numpy.cross(z, x)
    s = image_size
    centres = (2 * numpy.arange(s) + 1. - s) / s
    ndc_x = numpy.tile(centres, s)               # column j
    ndc_y = numpy.repeat(-centres, s)            # row i: top is +y
    tangent = math.tan(math.radians(viewing_angle))
    return z + tangent * (ndc_x[:, None] * x + ndc_y[:, None] * y)


def ray_box(eye, directions, half_extent=HALF_EXTENT, near=0.1):
    """Entry and exit depths (t_in, t_out) of rays eye + t d through the cube
    [-h, h]^3 (slab method), float64 [R] each; t_in >= near, and t_out <=
    t_in for rays that miss."""
    eye = numpy.asarray(eye, numpy.float64)
    with numpy.errstate(divide='ignore', invalid='ignore'):
        inverse = 1. / directions
        t1 = (-half_extent - eye) * inverse
        t2 = (half_extent - eye) * inverse
    lo = numpy.where(numpy.isnan(t1), -numpy.inf, numpy.minimum(t1, t2))
    hi = numpy.where(numpy.isnan(t1), numpy.inf, numpy.maximum(t1, t2))
    return numpy.maximum(lo.max(axis=1), near), hi.min(axis=1)


def sample_points(eye, image_size=dataset.IMAGE_SIZE, samples=DEFAULT_SAMPLES,
                  viewing_angle=dataset.VIEWING_ANGLE):
    """Points sampled along each pixel's ray inside the grid's cube:
    (points float64 [S * S, N, 3] in mesh coordinates, step float64 [S * S]
    the spacing of each ray's samples, hit bool [S * S]). Sample k of a ray
    is at depth t_in + (k + 0.5) (t_out - t_in) / N, the midpoints of N equal
    pieces of the ray's segment inside the cube; rays that miss the cube
    get step 0 (their points are never used)."""
    directions = camera_rays(eye, image_size, viewing_angle)
    t_in, t_out = ray_box(eye, directions)
    hit = t_out > t_in
    length = numpy.where(hit, t_out - t_in, 0.)
    fractions = (numpy.arange(samples) + 0.5) / samples
    t = t_in[:, None] + length[:, None] * fractions[None, :]
    points = numpy.asarray(eye, numpy.float64) + \
        t[:, :, None] * directions[:, None, :]
    # The step in mesh units (the direction is not a unit vector).
    step = length / samples * numpy.linalg.norm(directions, axis=1)
    return points, step, hit


def trilinear_table(points, hit=None, size=GRID):
    """Flat voxel indices and weights of the trilinear interpolation at
    ``points`` [..., 3] (mesh coordinates) of a grid in the data's layout
    ([y, x, 31 - z], flattened C order), zero outside the grid: int32 and
    float32 [..., 8]. Corners outside the grid, and every corner of points
    whose ray misses (``hit`` False, broadcast over the last axis of the
    points' leading shape), get weight 0 (and index 0)."""
    points = numpy.asarray(points, numpy.float64)
    # Continuous voxel coordinates (voxel centres at integers), stored axes.
    coords = numpy.stack((
        (size - 1) * points[..., 1] + (size - 1) / 2.,
        (size - 1) * points[..., 0] + (size - 1) / 2.,
        (size - 1) / 2. - (size - 1) * points[..., 2]), axis=-1)
    base = numpy.floor(coords)
    frac = coords - base
    base = base.astype(numpy.int64)
    indices, weights = [], []
    for da in (0, 1):
        for db in (0, 1):
            for dc in (0, 1):
                corner = base + numpy.array([da, db, dc])
                w = (numpy.where(da, frac[..., 0], 1 - frac[..., 0]) *
                     numpy.where(db, frac[..., 1], 1 - frac[..., 1]) *
                     numpy.where(dc, frac[..., 2], 1 - frac[..., 2]))
                inside = ((corner >= 0) & (corner < size)).all(axis=-1)
                if hit is not None:
                    inside &= numpy.asarray(hit)[(...,) + (None,) * (
                        inside.ndim - numpy.ndim(hit))]
                flat = (corner[..., 0] * size + corner[..., 1]) * size + \
                    corner[..., 2]
                indices.append(numpy.where(inside, flat, 0))
                weights.append(numpy.where(inside, w, 0.))
    return (numpy.stack(indices, axis=-1).astype(numpy.int32),
            numpy.stack(weights, axis=-1).astype(numpy.float32))


class SampleGrid(function_node.FunctionNode):
    """values[b] = matrices[b] @ grid[b]: grid [B, G] (a Variable) and B
    sparse constant matrices [M, G] (each row holds the trilinear weights of
    one sample, :meth:`Projector.table`), given with their transposes for
    the backward."""

    def __init__(self, matrices, transposes):
        self.matrices = matrices
        self.transposes = transposes

    def forward(self, inputs):
        grid, = inputs
        xp = backend.get_array_module(grid)
        return xp.stack([m @ g for m, g in zip(self.matrices, grid)]),

    def backward(self, indexes, grad_outputs):
        gy, = grad_outputs
        return SampleGrid(self.transposes, self.matrices).apply((gy,))


class Projector(object):
    """The projection tables of the cameras seen so far: per distinct eye
    (exact value) and array module, a sparse matrix [S * S * N, 32^3] whose
    row p * N + k holds the trilinear weights of sample k of pixel p (CSR,
    SciPy's or CuPy's), its transpose, and the spacing of each pixel's
    samples in voxel pitches [S * S]; computed once per camera (the data
    has 24)."""

    def __init__(self, image_size=dataset.IMAGE_SIZE,
                 samples=DEFAULT_SAMPLES,
                 viewing_angle=dataset.VIEWING_ANGLE):
        self.image_size = image_size
        self.samples = samples
        self.viewing_angle = viewing_angle
        self._tables = {}

    def table(self, eye, xp):
        eye = numpy.asarray(eye, numpy.float32)
        key = (eye.tobytes(), xp.__name__)
        if key not in self._tables:
            import scipy.sparse
            points, step, hit = sample_points(
                eye.astype(numpy.float64), self.image_size, self.samples,
                self.viewing_angle)
            indices, weights = trilinear_table(points, hit)
            rows = self.image_size ** 2 * self.samples
            matrix = scipy.sparse.csr_matrix(
                (weights.reshape(-1), indices.reshape(-1),
                 numpy.arange(0, rows * 8 + 1, 8)), shape=(rows, GRID ** 3))
            matrix.eliminate_zeros()
            transpose = matrix.T.tocsr()
            steps = (step / PITCH).astype(numpy.float32)
            if xp is not numpy:
                import cupyx.scipy.sparse
                matrix = cupyx.scipy.sparse.csr_matrix(matrix)
                transpose = cupyx.scipy.sparse.csr_matrix(transpose)
                steps = xp.asarray(steps)
            self._tables[key] = (matrix, transpose, steps)
        return self._tables[key]

    def tables(self, eyes, xp):
        """Lists (matrices, transposes, steps) of the tables of ``eyes`` [B,
        3] (references to the cached ones)."""
        eyes = chainer.backend.CpuDevice().send(eyes)
        found = [self.table(e, xp) for e in numpy.asarray(eyes)]
        return tuple(list(parts) for parts in zip(*found))


def project(grids, eyes, projector, combine='max'):
    """Silhouettes [B, S, S] of occupancy grids [B, 32, 32, 32] (data layout,
    values in [0, 1]) seen from cameras at ``eyes`` [B, 3] (array), with
    ``projector`` (a :class:`Projector`) giving the image size, the samples
    per ray and the camera's angle.

    ``combine``: 'max' (PTN), the largest sampled occupancy along the ray;
    'prod', 1 - prod_k (1 - v_k)^(step / pitch): the probability that some
    sample is occupied, each sample counted for the length of ray it stands
    for in voxel pitches, so that the result does not depend on the number
    of samples (a ray through one voxel's length of occupancy v gets v).
    Pixels whose ray misses the grid get 0."""
    if combine not in COMBINES:
        raise ValueError('combine: expected one of {}, got {!r}'.format(
            ', '.join(COMBINES), combine))
    xp = backend.get_array_module(grids)
    b = grids.shape[0]
    s, n = projector.image_size, projector.samples
    matrices, transposes, steps = projector.tables(eyes, xp)
    values = SampleGrid(matrices, transposes).apply(
        (F.reshape(grids, (b, -1)),))[0]
    values = F.reshape(values, (b, s * s, n))
    if combine == 'max':
        out = F.max(values, axis=2)
    else:
        eps = 1e-6
        # Clipped below 1 (a full voxel would give log 0); 0 stays 0.
        log_empty = F.log(1 - F.clip(values, 0., 1. - eps))
        out = 1 - F.exp(F.sum(log_empty, axis=2) * xp.stack(steps))
    return F.reshape(out, (b, s, s))


class VoxelDecoder(chainer.Chain):
    """[B, 512] -> occupancy [B, 32, 32, 32] in (0, 1), in the data's
    layout: a fully connected layer to C0 x 3 x 3 x 3 (ReLU), then 3D
    transposed convolutions 4 x 4 x 4 stride 2 to C1 x 8^3 (no padding),
    C2 x 16^3 and 1 x 32^3 (padding 1), ReLU between, sigmoid at the end.
    ``channels`` = (C0, C1, C2)."""

    def __init__(self, dim_in=512, channels=DECODER_CHANNELS):
        super(VoxelDecoder, self).__init__()
        channels = check_decoder_channels(channels)
        c0, c1, c2 = channels
        self.channels = channels
        with self.init_scope():
            self.fc = L.Linear(dim_in, c0 * 27)
            self.deconv1 = L.DeconvolutionND(3, c0, c1, 4, stride=2, pad=0)
            self.deconv2 = L.DeconvolutionND(3, c1, c2, 4, stride=2, pad=1)
            self.deconv3 = L.DeconvolutionND(3, c2, 1, 4, stride=2, pad=1)

    def logits(self, h):
        h = F.relu(self.fc(h))
        h = F.reshape(h, (h.shape[0], self.channels[0], 3, 3, 3))
        h = F.relu(self.deconv1(h))
        h = F.relu(self.deconv2(h))
        return self.deconv3(h)[:, 0]

    def forward(self, h):
        return F.sigmoid(self.logits(h))


def check_decoder_channels(channels):
    """-> tuple of three positive ints, or ValueError naming
    ``decoder_channels``."""
    try:
        return reconstruction_model.check_encoder_channels(channels)
    except ValueError:
        raise ValueError('decoder_channels: expected three positive '
                         'integers, got {!r}'.format(channels))


class PTN(chainer.Chain):
    """Encoder + voxel decoder + projection, with the mesh model's loss.

    ``__call__(images_a, images_b, eyes_a, eyes_b)`` as
    :class:`model.Reconstructor`: each predicted grid (one from each
    image) is projected to both cameras and compared with both targets'
    masks by the silhouette IoU loss (``loss='iou'``, paper eq. 5, the mesh
    model's) or the mean squared error (``loss='l2'``, PTN's own); reports
    loss, loss_silhouettes and iou (1 - the IoU loss, or of the squared
    error: 1 - the loss).

    ``predict(images)`` gives occupancy grids (a Variable [B, 32, 32, 32]);
    ``render_silhouettes(grids, eyes)`` their projections, as the mesh
    model's methods of those names (train.py's validation uses them).
    ``encoder_input_size``: the resolution the encoder reads (see
    :class:`model.Encoder`).
    """

    def __init__(self, image_size=dataset.IMAGE_SIZE,
                 encoder_channels=reconstruction_model.ENCODER_CHANNELS,
                 decoder_channels=DECODER_CHANNELS, combine='max',
                 samples=DEFAULT_SAMPLES, loss='iou', encoder_input_size=64):
        super(PTN, self).__init__()
        if combine not in COMBINES:
            raise ValueError('combine: expected one of {}, got {!r}'.format(
                ', '.join(COMBINES), combine))
        if loss not in ('iou', 'l2'):
            raise ValueError("loss: expected 'iou' or 'l2', got {!r}".format(
                loss))
        if not isinstance(samples, (int, numpy.integer)) or samples < 1:
            raise ValueError('samples: expected a positive integer, got '
                             '{!r}'.format(samples))
        self.combine = combine
        self.loss_name = loss
        self.projector = Projector(image_size, int(samples))
        with self.init_scope():
            self.encoder = reconstruction_model.Encoder(
                channels=encoder_channels, input_size=encoder_input_size)
            self.decoder = VoxelDecoder(channels=decoder_channels)

    @property
    def image_size(self):
        return self.projector.image_size

    def predict(self, images):
        """images [B, 4, 64, 64] -> occupancy [B, 32, 32, 32] in (0, 1)."""
        return self.decoder(self.encoder(images))

    def render_silhouettes(self, grids, eyes):
        """Projections [B, S, S] of grids [B, 32, 32, 32] from eyes [B, 3]."""
        return project(grids, eyes, self.projector, self.combine)

    def _at_render_size(self, masks):
        return reconstruction_model.masks_at_size(masks, self.image_size)

    def __call__(self, images_a, images_b, eyes_a, eyes_b):
        grids = self.predict(F.concat((images_a, images_b), axis=0))
        # Pairs in the order (grid a, view a), (a, b), (b, a), (b, b).
        pair_grids, pair_eyes, pair_masks = \
            reconstruction_model.all_view_pairs(
                grids, (eyes_a, eyes_b),
                [self._at_render_size(images[:, 3])
                 for images in (images_a, images_b)])
        silhouettes = self.render_silhouettes(pair_grids, pair_eyes)
        if self.loss_name == 'iou':
            loss = reconstruction_model.iou_loss(silhouettes, pair_masks)
        else:
            loss = F.mean_squared_error(silhouettes, pair_masks)
        chainer.report({'loss': loss, 'loss_silhouettes': loss,
                        'iou': 1 - loss}, self)
        return loss


def is_ptn_file(npz, prefix=''):
    """Whether an open .npz (a model file or, under ``prefix``, a trainer
    snapshot) holds a :class:`PTN`."""
    return prefix + 'decoder/deconv1/W' in npz.files


def load(path, device=None):
    """A :class:`PTN` from ``model_final.npz`` or a trainer snapshot of
    ``train.py --model ptn``; the encoder's and decoder's widths are read
    from the weights."""
    with numpy.load(path) as npz:
        prefix = '' if 'encoder/conv1/W' in npz.files \
            else 'updater/model:main/'
        if not is_ptn_file(npz, prefix):
            raise ValueError('{} holds no PTN model (no '
                             'decoder/deconv1/W)'.format(path))
        encoder, input_size = reconstruction_model.encoder_options(
            npz, prefix)
        decoder = (npz[prefix + 'decoder/deconv1/W'].shape[0],
                   npz[prefix + 'decoder/deconv2/W'].shape[0],
                   npz[prefix + 'decoder/deconv3/W'].shape[0])
        ptn = PTN(encoder_channels=encoder, decoder_channels=decoder,
                  encoder_input_size=input_size)
        chainer.serializers.NpzDeserializer(npz, path=prefix).load(ptn)
    if device is not None:
        ptn.to_device(device)
    return ptn
