"""Single-image mesh reconstruction from silhouettes (paper sec. 4.1).

An encoder reads a 64 x 64 RGB + mask image, a decoder moves the 642
vertices of a sphere template, and the neural renderer draws the predicted
mesh's silhouettes for the loss. Everything here is a chainer.Chain (or a
plain function on Variables) that other code can import:

- :class:`Encoder` [B, 4, 64, 64] -> [B, 512] (optionally reading the
  image at a lower resolution, ``input_size``)
- :class:`Decoder` [B, 512] -> vertices [B, 642, 3]
- :func:`deform` the quadrant-restricted vertex formula
- :func:`iou_loss` (paper eq. 5), :func:`smoothness_loss` (eq. 6)
- :class:`Reconstructor` encoder + decoder + renderer + losses

Coordinates: the mesh lives in [-0.5, 0.5]^3, world y up, seen by the
renderer's look-at camera as the data's views are (see dataset.py).
"""
import os
import sys

import numpy

import chainer
import chainer.functions as F
import chainer.links as L

import neural_renderer as nr

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import inplace_adam  # NOQA: E402

DATA = os.path.join(HERE, '..', '..', 'data')
TEMPLATE = os.path.join(DATA, 'sphere_642.obj')


def load_template(path=TEMPLATE):
    """The 642-vertex icosphere scaled to radius 0.5: vertices float32
    [642, 3], faces int32 [1280, 3]."""
    vertices, faces = nr.load_obj(path, normalization=False)
    radius = numpy.linalg.norm(vertices, axis=1).max()
    return (vertices * (0.5 / radius)).astype(numpy.float32), faces


def deform(template, delta, centroid):
    """The quadrant-restricted vertex formula.

    Per coordinate, with template coordinate b in (-0.5, 0.5):
    s = sign(b) sigmoid(logit(|b|) + delta), c = tanh(centroid),
    v = 0.5 (c + (1 - c) max(s, 0) - (1 + c) max(-s, 0)).
    A vertex therefore stays in the octant of its template position relative
    to the (learned) centroid c, and inside (-0.5, 0.5); delta = 0 and c = 0
    give v = b / 2. Template coordinates that are exactly 0 give s = 0
    (v = c / 2) with finite gradients: |b| is clipped before the logit, and
    sign(0) = 0.

    Args:
        template: [V, 3] float array, coordinates in (-0.5, 0.5).
        delta: [B, V, 3] Variable, offsets in logit space.
        centroid: [B, 3] Variable, pre-tanh centroid.

    Returns:
        Variable [B, V, 3].
    """
    xp = chainer.backend.get_array_module(template)
    dtype = template.dtype
    magnitude = xp.clip(xp.abs(template), 1e-6, 1 - 1e-6)
    logit = (xp.log(magnitude) - xp.log1p(-magnitude)).astype(dtype)
    sign = xp.sign(template).astype(dtype)
    s = F.sigmoid(F.broadcast_to(logit, delta.shape) + delta) * \
        F.broadcast_to(sign, delta.shape)
    c = F.broadcast_to(F.tanh(centroid)[:, None, :], delta.shape)
    return 0.5 * (c + (1 - c) * F.relu(s) - (1 + c) * F.relu(-s))


def iou_loss(predicted, target, eps=1e-6):
    """1 - mean over the batch of sum(t p) / sum(t + p - t p): predicted
    (Variable) and target silhouettes [B, H, W] in [0, 1] (paper eq. 5)."""
    axes = tuple(range(1, predicted.ndim))
    intersection = F.sum(predicted * target, axis=axes)
    union = F.sum(predicted + target - predicted * target, axis=axes) + eps
    return 1 - F.mean(intersection / union)


def smoothness_edges(faces):
    """For every edge shared by two faces: (a, b, c, d) vertex indices with
    (a, b) the edge and c, d the vertices opposite it in the two faces.
    faces [F, 3] int -> int32 [E, 4]."""
    opposite = {}
    for face in numpy.asarray(faces):
        for k in range(3):
            a, b, c = face[k], face[(k + 1) % 3], face[(k + 2) % 3]
            opposite.setdefault((min(a, b), max(a, b)), []).append(c)
    edges = [(a, b, cs[0], cs[1]) for (a, b), cs in sorted(opposite.items())
             if len(cs) == 2]
    return numpy.asarray(edges, numpy.int32).reshape(-1, 4)


def smoothness_loss(vertices, edges, eps=1e-6, weights=None):
    """sum over shared edges of (cos theta + 1)^2 (paper eq. 6), theta the
    angle between the two faces measured by the vectors from the edge to
    each opposite vertex, perpendicular to the edge: a flat pair has theta =
    pi and costs 0, a pair folded flat onto itself costs 4.

    vertices [B, V, 3] Variable, edges [E, 4] from :func:`smoothness_edges`;
    returns the mean over the batch of the per-mesh sums, each multiplied
    by its entry of ``weights`` (float [B], default 1)."""
    a, b, c, d = (vertices[:, edges[:, k]] for k in range(4))
    axis = b - a
    axis_norm2 = F.sum(axis * axis, axis=2, keepdims=True) + eps

    def perpendicular(p):
        along = F.sum((p - a) * axis, axis=2, keepdims=True) / axis_norm2
        return p - a - F.broadcast_to(along, axis.shape) * axis

    u, w = perpendicular(c), perpendicular(d)
    cosine = F.sum(u * w, axis=2) / F.sqrt(
        (F.sum(u * u, axis=2) + eps) * (F.sum(w * w, axis=2) + eps))
    per_mesh = F.sum(F.square(cosine + 1), axis=1)
    if weights is not None:
        per_mesh = per_mesh * weights.astype(per_mesh.dtype)
    return F.mean(per_mesh)


ENCODER_CHANNELS = (64, 128, 256)


class Encoder(chainer.Chain):
    """[B, 4, 64, 64] (RGB + mask, in [0, 1]) -> [B, 512]: three 5 x 5
    stride-2 convolutions (64, 128, 256 channels) and three fully connected
    layers (1024, 1024, 512), ReLU after each, no batch normalisation.

    ``channels`` (three positive ints) sets the convolutions' widths; the
    default is the paper's. Narrower ones trade capacity for speed on a
    CPU, where the convolutions take most of a training step.

    ``input_size`` (a multiple of 8, default 64, the paper's) is the
    resolution the convolutions read: images of size S are first averaged
    down by S / input_size (which must be an integer), so 32 runs the
    convolutions on a quarter of the pixels; the first fully connected
    layer then reads c3 x (input_size / 8)^2 values.
    """

    def __init__(self, dim_out=512, channels=ENCODER_CHANNELS,
                 input_size=64):
        super(Encoder, self).__init__()
        channels = check_encoder_channels(channels)
        input_size = check_encoder_input_size(input_size)
        c1, c2, c3 = channels
        self.channels = channels
        self.input_size = input_size
        cells = (input_size // 8) ** 2
        with self.init_scope():
            self.conv1 = L.Convolution2D(4, c1, 5, stride=2, pad=2)
            self.conv2 = L.Convolution2D(c1, c2, 5, stride=2, pad=2)
            self.conv3 = L.Convolution2D(c2, c3, 5, stride=2, pad=2)
            self.fc1 = L.Linear(c3 * cells, 1024)
            self.fc2 = L.Linear(1024, 1024)
            self.fc3 = L.Linear(1024, dim_out)

    def forward(self, x):
        size = x.shape[-1]
        if size != self.input_size:
            factor = size // self.input_size
            if factor * self.input_size != size or x.shape[-2] != size:
                raise ValueError(
                    'images: expected square images whose size is a '
                    'multiple of the encoder\'s input_size {}, got {}'
                    .format(self.input_size, list(x.shape[-2:])))
            x = F.average_pooling_2d(x, factor)
        h = F.relu(self.conv1(x))
        h = F.relu(self.conv2(h))
        h = F.relu(self.conv3(h))
        h = F.relu(self.fc1(h))
        h = F.relu(self.fc2(h))
        return F.relu(self.fc3(h))


def check_encoder_channels(channels):
    """-> tuple of three positive ints, or ValueError naming
    ``encoder_channels``."""
    try:
        values = tuple(channels)
    except TypeError:
        values = None
    if values is None or len(values) != 3 or not all(
            isinstance(c, (int, numpy.integer)) and not isinstance(c, bool)
            and c > 0 for c in values):
        raise ValueError('encoder_channels: expected three positive '
                         'integers, got {!r}'.format(channels))
    return tuple(int(c) for c in values)


def check_encoder_input_size(input_size):
    """-> int, a positive multiple of 8, or ValueError naming
    ``encoder_input_size``."""
    if not isinstance(input_size, (int, numpy.integer)) or \
            isinstance(input_size, bool) or input_size <= 0 or \
            input_size % 8:
        raise ValueError('encoder_input_size: expected a positive multiple '
                         'of 8 (e.g. 64 or 32), got {!r}'.format(input_size))
    return int(input_size)


def encoder_options(npz, prefix=''):
    """The encoder's ``channels`` and ``input_size`` of a saved model (an
    open .npz, the model under ``prefix``), read from its weights' shapes;
    KeyError if it holds no encoder."""
    channels = tuple(npz[prefix + 'encoder/conv{}/W'.format(i)].shape[0]
                     for i in (1, 2, 3))
    inputs = npz[prefix + 'encoder/fc1/W'].shape[1]
    side = int(round(numpy.sqrt(inputs // channels[2])))
    if side * side * channels[2] != inputs:
        raise ValueError('encoder/fc1/W: {} inputs are not {} channels of a '
                         'square grid'.format(inputs, channels[2]))
    return channels, side * 8


class Decoder(chainer.Chain):
    """[B, 512] -> vertices [B, 642, 3]: fully connected 1024, 2048 (ReLU),
    then a centroid head (3, output scaled by 0.1, its learning rate by 0.1)
    and a per-vertex offset head (642 x 3), combined by :func:`deform`."""

    def __init__(self, template_vertices, dim_in=512):
        super(Decoder, self).__init__()
        self.add_persistent('template', template_vertices)
        num_vertices = len(template_vertices)
        with self.init_scope():
            self.fc1 = L.Linear(dim_in, 1024)
            self.fc2 = L.Linear(1024, 2048)
            self.fc_centroid = L.Linear(2048, 3)
            self.fc_bias = L.Linear(2048, num_vertices * 3)

    def forward(self, h):
        h = F.relu(self.fc1(h))
        h = F.relu(self.fc2(h))
        centroid = self.fc_centroid(h) * 0.1
        delta = F.reshape(self.fc_bias(h), (h.shape[0], -1, 3))
        return deform(self.template, delta, centroid)


def all_view_pairs(predictions, eyes, masks):
    """Every (prediction, camera) pair of each object's K views.

    predictions: Variable [K B, ...], view 0's B objects, then view 1's, ...
    (the order of ``F.concat`` of the K views' batches); eyes, masks: K
    arrays [B, 3] and [B, S, S], one per view. Returns (predictions, eyes,
    masks) of the K^2 B pairs, in the order (view of the prediction j,
    view of the camera c, object i): the prediction from view j of object
    i with view c's camera and mask.
    """
    n = len(eyes[0])
    k = len(eyes)
    xp = chainer.backend.get_array_module(eyes[0])
    return (F.concat([predictions[j * n:(j + 1) * n]
                      for j in range(k) for _ in range(k)], axis=0),
            xp.concatenate([eyes[c] for _ in range(k) for c in range(k)]),
            xp.concatenate([masks[c] for _ in range(k) for c in range(k)]))


CENTROID_LR_SCALE = 0.1


def setup_optimizer(model, alpha=1e-4):
    """Adam (alpha 1e-4, as the paper) on ``model``, with the learning rate
    of every decoder's centroid head scaled by 0.1.

    The optimizer is :class:`inplace_adam.InPlaceAdam`: chainer's Adam with
    bitwise-equal results and a CPU update about seven times faster."""
    optimizer = inplace_adam.InPlaceAdam(alpha=alpha)
    optimizer.setup(model)
    for link in model.links():
        if isinstance(link, Decoder):
            for param in link.fc_centroid.params():
                param.update_rule.hyperparam.alpha = alpha * CENTROID_LR_SCALE
    return optimizer


def scale_learning_rate(optimizer, factor):
    """Multiplies Adam's alpha by ``factor`` for every parameter, those with
    their own rate (the centroid head) included: the paper's drop to 0.1 at
    95% of training."""
    optimizer.alpha *= factor
    for param in optimizer.target.params():
        rule = param.update_rule
        if rule is not None and 'alpha' in rule.hyperparam.__dict__:
            rule.hyperparam.alpha *= factor


def masks_at_size(masks, size):
    """Masks [B, S, S] at the render size ``size``: rendering smaller than
    the data (quick runs) compares with the masks averaged down by the
    integer factor S / size."""
    factor = masks.shape[-1] // size
    if factor * size != masks.shape[-1]:
        raise ValueError('image_size {} must divide the data\'s image '
                         'size {}'.format(size, masks.shape[-1]))
    if factor == 1:
        return masks
    return F.average_pooling_2d(masks[:, None], factor)[:, 0].array


class Reconstructor(chainer.Chain):
    """Encoder + decoder + renderer, with the training loss.

    ``__call__(images_a, images_b, eyes_a, eyes_b)``: images [B, 4, 64, 64]
    of each object from two views and the cameras [B, 3] of those views.
    Each predicted mesh (one from each image) is rendered from both cameras
    and compared with both targets' masks; the loss is the mean IoU loss of
    the four pairs plus ``lambda_smoothness`` times the smoothness loss of
    both meshes. Reports loss, loss_silhouettes, loss_smoothness and iou.
    :meth:`multi_view_loss` is the same loss for K >= 2 views per object
    and per-object smoothness weights.

    ``encoder_channels``: the widths of the encoder's convolutions (see
    :class:`Encoder`; default the paper's 64, 128, 256);
    ``encoder_input_size``: the resolution the encoder reads (default 64).
    """

    def __init__(self, lambda_smoothness=0.001, image_size=64,
                 template=TEMPLATE, encoder_channels=ENCODER_CHANNELS,
                 encoder_input_size=64):
        super(Reconstructor, self).__init__()
        vertices, faces = load_template(template)
        self.lambda_smoothness = lambda_smoothness
        self.add_persistent('faces', faces)
        self.add_persistent('edges', smoothness_edges(faces))
        with self.init_scope():
            self.encoder = Encoder(channels=encoder_channels,
                                   input_size=encoder_input_size)
            self.decoder = Decoder(vertices)
        self.renderer = nr.Renderer()
        self.renderer.image_size = image_size
        self.renderer.viewing_angle = 15
        self.renderer.anti_aliasing = True

    def predict(self, images):
        """images [B, 4, 64, 64] -> vertices [B, 642, 3]."""
        return self.decoder(self.encoder(images))

    def render_silhouettes(self, vertices, eyes):
        """Silhouettes [B, S, S] of meshes [B, V, 3] seen from eyes [B, 3]."""
        self.renderer.eye = eyes
        faces = self.xp.broadcast_to(self.faces,
                                     (vertices.shape[0],) + self.faces.shape)
        return self.renderer.render_silhouettes(vertices, faces)

    def _at_render_size(self, masks):
        return masks_at_size(masks, self.renderer.image_size)

    def _report(self, loss_silhouettes, loss_smoothness, loss):
        chainer.report({'loss': loss, 'loss_silhouettes': loss_silhouettes,
                        'loss_smoothness': loss_smoothness,
                        'iou': 1 - loss_silhouettes}, self)

    def __call__(self, images_a, images_b, eyes_a, eyes_b):
        return self._views_loss((images_a, images_b), (eyes_a, eyes_b))

    def multi_view_loss(self, images, eyes, smoothness_weights=None):
        """The training loss with K views per object.

        images [B, K, 4, S, S] (K >= 2) and their cameras eyes [B, K, 3]:
        a mesh is predicted from each of the B x K images and rendered from
        all K cameras of its object; the loss is the mean IoU loss of the
        B x K x K (mesh, camera) pairs plus the mean smoothness loss of the
        meshes, weighted per object by ``smoothness_weights`` (float [B];
        default ``lambda_smoothness`` for every object). K = 2 without
        weights is ``__call__``'s loss.
        """
        if images.ndim != 5 or eyes.ndim != 3 or \
                images.shape[:2] != eyes.shape[:2] or images.shape[1] < 2 \
                or eyes.shape[2] != 3:
            raise ValueError(
                'images, eyes: expected [B, K, 4, S, S] and [B, K, 3] with '
                'K >= 2, got {} and {}'.format(list(images.shape),
                                               list(eyes.shape)))
        k = images.shape[1]
        return self._views_loss([images[:, j] for j in range(k)],
                                [eyes[:, j] for j in range(k)],
                                smoothness_weights)

    def _views_loss(self, images, eyes, smoothness_weights=None):
        # images, eyes: K arrays [B, 4, S, S] and [B, 3], one per view. All
        # K views go through the network, and all K^2 (mesh, camera) pairs
        # through the renderer, as one batch each: the same losses as
        # separate calls, with far fewer graph nodes.
        xp = self.xp
        vertices = self.predict(F.concat(images, axis=0))
        masks = [self._at_render_size(view[:, 3]) for view in images]
        pair_vertices, pair_eyes, pair_masks = all_view_pairs(
            vertices, eyes, masks)
        silhouettes = self.render_silhouettes(pair_vertices, pair_eyes)
        # The mean over the K^2 B pairs is the mean of the per-pair losses.
        loss_silhouettes = iou_loss(silhouettes, pair_masks)
        loss_smoothness = smoothness_loss(vertices, self.edges)
        if smoothness_weights is None:
            weighted = self.lambda_smoothness * loss_smoothness
        else:
            # vertices hold view 0's B meshes, then view 1's, ...
            weights = xp.tile(xp.asarray(smoothness_weights, vertices.dtype)
                              .reshape(len(images[0])), len(images))
            weighted = smoothness_loss(vertices, self.edges, weights=weights)
        loss = loss_silhouettes + weighted
        self._report(loss_silhouettes, loss_smoothness, loss)
        return loss
