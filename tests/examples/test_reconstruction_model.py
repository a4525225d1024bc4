"""The reconstruction model's pieces: vertex formula, losses, a few steps."""
import os
import sys

import numpy
import pytest

import chainer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', '..', 'examples', 'reconstruction'))
import model  # noqa: E402


def test_template_is_the_642_vertex_sphere_of_radius_half():
    vertices, faces = model.load_template()
    assert vertices.shape == (642, 3) and faces.shape == (1280, 3)
    numpy.testing.assert_allclose(numpy.linalg.norm(vertices, axis=1), 0.5,
                                  rtol=1e-5)
    assert len(model.smoothness_edges(faces)) == 1920


def test_deform_by_hand():
    template = numpy.array([[0.25, -0.25, 0.]], numpy.float32)
    delta = chainer.Variable(numpy.array([[[0., numpy.log(3.), 5.]]], 'f'))
    centroid = chainer.Variable(numpy.zeros((1, 3), 'f'))
    v = model.deform(template, delta, centroid).array[0, 0]
    # x: s = sigmoid(logit(0.25)) = 0.25 -> v = 0.125.
    # y: s = -sigmoid(logit(0.25) + log 3) = -(0.75 / (0.75 + 0.25)) ... :
    #    logit(0.25) = -log 3, so s = -sigmoid(0) = -0.5 -> v = -0.25.
    # z: template 0 -> s = 0 -> v = c / 2 = 0.
    numpy.testing.assert_allclose(v, [0.125, -0.25, 0.], atol=1e-6)
    # With a centroid c = tanh(atanh(0.5)) = 0.5 on x: v = 0.5 (c + (1 - c) s).
    centroid = chainer.Variable(numpy.array([[numpy.arctanh(0.5), 0, 0]], 'f'))
    v = model.deform(template, delta, centroid).array[0, 0]
    assert v[0] == pytest.approx(0.5 * (0.5 + 0.5 * 0.25), abs=1e-6)


def test_deform_stays_in_bounds_and_finite_on_zero_coordinates():
    template, _ = model.load_template()
    assert (template == 0).any()
    rng = numpy.random.RandomState(0)
    delta = chainer.Variable(rng.randn(3, 642, 3).astype('f') * 20)
    centroid = chainer.Variable(rng.randn(3, 3).astype('f') * 5)
    v = model.deform(template, delta, centroid)
    assert (abs(v.array) <= 0.5).all()
    # Each vertex stays on its template's side of the centroid.
    c = numpy.tanh(centroid.array)[:, None, :] / 2
    side = numpy.sign(template)[None]
    assert ((v.array - c) * side >= -1e-6).all()
    chainer.functions.sum(v * v).backward()
    assert numpy.isfinite(delta.grad).all()
    assert numpy.isfinite(centroid.grad).all()


def test_iou_loss_of_identical_and_disjoint_masks():
    a = numpy.zeros((2, 4, 4), 'f')
    a[:, :2] = 1
    b = 1 - a
    assert float(model.iou_loss(chainer.Variable(a), a).array) == \
        pytest.approx(0, abs=1e-6)
    assert float(model.iou_loss(chainer.Variable(a), b).array) == \
        pytest.approx(1, abs=1e-6)
    # Half overlap: intersection 4, union 12 per item -> 1 - 1/3.
    c = numpy.zeros((2, 4, 4), 'f')
    c[:, 1:3] = 1
    assert float(model.iou_loss(chainer.Variable(a), c).array) == \
        pytest.approx(2. / 3, abs=1e-6)


def two_triangles(fold):
    """Triangles (0, 1, 2) and (1, 0, 3) sharing edge 0-1 on the x axis; the
    second's far vertex rotated by ``fold`` radians about the edge from the
    flat position (fold = pi folds it onto the first)."""
    vertices = numpy.array([[0, 0, 0], [1, 0, 0], [0.5, 1, 0],
                            [0.5, -numpy.cos(fold), numpy.sin(fold)]], 'f')
    faces = numpy.array([[0, 1, 2], [1, 0, 3]], numpy.int32)
    return vertices[None], model.smoothness_edges(faces)


@pytest.mark.parametrize('fold, expected', [
    (0., 0.),                 # flat: theta = pi, cos = -1
    (numpy.pi / 2, 1.),       # right angle: cos = 0 -> (0 + 1)^2
    (numpy.pi, 4.),           # folded onto itself: cos = 1 -> 4
])
def test_smoothness_of_flat_and_folded_pairs(fold, expected):
    vertices, edges = two_triangles(fold)
    assert edges.tolist() == [[0, 1, 2, 3]] or edges.tolist() == \
        [[0, 1, 3, 2]]
    loss = model.smoothness_loss(chainer.Variable(vertices), edges)
    assert float(loss.array) == pytest.approx(expected, abs=1e-4)


def test_a_few_steps_lower_the_loss_on_one_batch():
    # Two views of an ellipsoid's silhouette as the targets; with the
    # smoothness weight 0 the loss is the silhouette IoU loss alone.
    rng = numpy.random.RandomState(0)
    reconstructor = model.Reconstructor(lambda_smoothness=0)
    template, _ = model.load_template()
    target = numpy.broadcast_to(template * numpy.array([1.6, 0.6, 1.], 'f'),
                                (2, 642, 3)).copy()
    eyes_a = numpy.array([[0, 1.366, -2.366]] * 2, 'f')
    eyes_b = numpy.array([[2.366, 1.366, 0]] * 2, 'f')
    images = []
    for eyes in (eyes_a, eyes_b):
        mask = reconstructor.render_silhouettes(target, eyes).array
        rgb = rng.rand(2, 3, 64, 64).astype('f') * mask[:, None]
        images.append(numpy.concatenate([rgb, mask[:, None]], axis=1))
    optimizer = model.setup_optimizer(reconstructor, alpha=1e-4)
    losses = []
    for _ in range(6):
        reconstructor.cleargrads()
        loss = reconstructor(images[0], images[1], eyes_a, eyes_b)
        loss.backward()
        optimizer.update()
        losses.append(float(loss.array))
    assert numpy.isfinite(losses).all()
    assert losses[-1] < losses[0] - 0.1, losses
    assert all(numpy.isfinite(p.array).all() for p in reconstructor.params())


def test_loss_is_the_mean_over_the_four_mesh_view_pairs():
    # Reconstructor batches both views through the network and the four
    # (mesh, camera) pairs through the renderer; the same loss and
    # gradients, pair by pair with the public pieces:
    rng = numpy.random.RandomState(3)
    reconstructor = model.Reconstructor(lambda_smoothness=0.01,
                                        image_size=32)
    images_a, images_b = (rng.rand(2, 4, 64, 64).astype('f')
                          for _ in range(2))
    eyes_a = numpy.array([[0, 1.366, -2.366], [2.366, 1.366, 0]], 'f')
    eyes_b = numpy.array([[-2.366, 1.366, 0], [0, 1.366, 2.366]], 'f')
    reconstructor.cleargrads()
    loss = reconstructor(images_a, images_b, eyes_a, eyes_b)
    loss.backward()
    batched_grad = reconstructor.decoder.fc_bias.W.grad.copy()

    reconstructor.cleargrads()
    vertices_a = reconstructor.predict(images_a)
    vertices_b = reconstructor.predict(images_b)
    masks = [chainer.functions.average_pooling_2d(
        images[:, 3:], 2).array[:, 0] for images in (images_a, images_b)]
    pairs = [model.iou_loss(reconstructor.render_silhouettes(v, eyes), m)
             for v in (vertices_a, vertices_b)
             for eyes, m in ((eyes_a, masks[0]), (eyes_b, masks[1]))]
    smoothness = (model.smoothness_loss(vertices_a, reconstructor.edges) +
                  model.smoothness_loss(vertices_b, reconstructor.edges)) / 2
    expected = sum(pairs) / 4 + 0.01 * smoothness
    expected.backward()
    assert float(loss.array) == pytest.approx(float(expected.array),
                                              rel=1e-5)
    numpy.testing.assert_allclose(
        batched_grad, reconstructor.decoder.fc_bias.W.grad, rtol=1e-3,
        atol=1e-5 * abs(batched_grad).max())


def test_encoder_channels_set_the_convolution_widths():
    default = model.Encoder()
    assert [default['conv{}'.format(i)].W.shape[0] for i in (1, 2, 3)] == \
        [64, 128, 256]
    assert default.fc1.W.shape == (1024, 256 * 8 * 8)
    narrow = model.Encoder(channels=(8, 16, 32))
    assert narrow.conv1.W.shape == (8, 4, 5, 5)
    assert narrow.conv2.W.shape == (16, 8, 5, 5)
    assert narrow.conv3.W.shape == (32, 16, 5, 5)
    assert narrow.fc1.W.shape == (1024, 32 * 8 * 8)
    x = numpy.random.RandomState(0).rand(2, 4, 64, 64).astype('f')
    assert narrow(x).shape == (2, 512)
    reconstructor = model.Reconstructor(encoder_channels=(8, 16, 32))
    assert reconstructor.encoder.channels == (8, 16, 32)


@pytest.mark.parametrize('channels', [(8, 16), (8, 16, 0), (8, 16, 32.5),
                                      (8, True, 32), 8, None])
def test_bad_encoder_channels_are_one_clear_error(channels):
    with pytest.raises(ValueError, match='encoder_channels: expected three '
                                         'positive integers'):
        model.Encoder(channels=channels)


def test_encoder_input_size_reads_the_image_averaged_down():
    rng = numpy.random.RandomState(1)
    encoder = model.Encoder(channels=(4, 8, 8), input_size=32)
    assert encoder.fc1.W.shape == (1024, 8 * 4 * 4)
    x = rng.rand(2, 4, 64, 64).astype('f')
    # 2 x 2 block means by hand, then the same encoder at its own size.
    averaged = x.reshape(2, 4, 32, 2, 32, 2).mean(axis=(3, 5))
    numpy.testing.assert_allclose(encoder(x).array, encoder(averaged).array,
                                  rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='multiple of the encoder\'s '
                                         'input_size 32, got \\[48, 48\\]'):
        encoder(rng.rand(1, 4, 48, 48).astype('f'))
    for bad in (30, 0, True, 32.0):
        with pytest.raises(ValueError, match='encoder_input_size: expected '
                                             'a positive multiple of 8'):
            model.Encoder(input_size=bad)


def test_encoder_options_are_read_back_from_the_weights(tmp_path):
    reconstructor = model.Reconstructor(encoder_channels=(4, 8, 16),
                                        encoder_input_size=16)
    path = str(tmp_path / 'm.npz')
    chainer.serializers.save_npz(path, reconstructor)
    with numpy.load(path) as npz:
        assert model.encoder_options(npz) == ((4, 8, 16), 16)


def test_weighted_smoothness_scales_each_mesh():
    # Mesh 0: a pair folded flat onto itself (4 per edge pair, one pair);
    # mesh 1: the same pair flat (0). Weights 0.5 and 3: mean of 0.5 x 4
    # and 3 x 0 = 1.
    flat = numpy.array([[0, 0, 0], [1, 0, 0], [0.5, 1, 0], [0.5, -1, 0]], 'f')
    folded = flat.copy()
    folded[3] = [0.5, 1, 0]
    vertices = chainer.Variable(numpy.stack([folded, flat]))
    edges = numpy.array([[0, 1, 2, 3]], numpy.int32)
    loss = model.smoothness_loss(vertices, edges,
                                 weights=numpy.array([0.5, 3.], 'f'))
    assert float(loss.array) == pytest.approx(1., abs=1e-4)


def _views(rng, n, k):
    eyes = numpy.asarray(model.nr.get_points_from_angles(
        2.732, 30, -15 * rng.randint(0, 24, n * k)), 'f').reshape(n, k, 3)
    return rng.rand(n, k, 4, 64, 64).astype('f'), eyes


def test_multi_view_loss_of_two_views_is_the_two_view_loss():
    rng = numpy.random.RandomState(4)
    reconstructor = model.Reconstructor(lambda_smoothness=0.01,
                                        image_size=32)
    images, eyes = _views(rng, 2, 2)
    reconstructor.cleargrads()
    loss = reconstructor.multi_view_loss(images, eyes)
    loss.backward()
    grad = reconstructor.decoder.fc_bias.W.grad.copy()
    reconstructor.cleargrads()
    expected = reconstructor(images[:, 0], images[:, 1], eyes[:, 0],
                             eyes[:, 1])
    expected.backward()
    assert float(loss.array) == pytest.approx(float(expected.array),
                                              rel=1e-5)
    numpy.testing.assert_allclose(
        grad, reconstructor.decoder.fc_bias.W.grad, rtol=1e-3,
        atol=1e-5 * abs(grad).max())


def test_multi_view_loss_is_the_mean_over_every_mesh_and_camera():
    # Three views: each of the 3 meshes of an object is compared with all
    # 3 of its masks (9 pairs an object), and the smoothness of object i's
    # meshes is weighted by weights[i].
    rng = numpy.random.RandomState(5)
    reconstructor = model.Reconstructor(lambda_smoothness=0.5,
                                        image_size=32)
    images, eyes = _views(rng, 2, 3)
    weights = numpy.array([0.02, 0.], 'f')
    loss = reconstructor.multi_view_loss(images, eyes,
                                         smoothness_weights=weights)
    pairs, smoothness = [], []
    for i in range(2):
        for j in range(3):
            vertices = reconstructor.predict(images[i:i + 1, j])
            smoothness.append(weights[i] * float(model.smoothness_loss(
                vertices, reconstructor.edges).array))
            for k in range(3):
                mask = images[i:i + 1, k, 3].reshape(1, 32, 2, 32, 2).mean(
                    axis=(2, 4))
                silhouette = reconstructor.render_silhouettes(
                    vertices, eyes[i:i + 1, k])
                pairs.append(float(model.iou_loss(silhouette, mask).array))
    assert float(loss.array) == pytest.approx(
        numpy.mean(pairs) + numpy.mean(smoothness), rel=1e-5)
    with pytest.raises(ValueError, match='images, eyes: expected'):
        reconstructor.multi_view_loss(images[:, :1], eyes[:, :1])
