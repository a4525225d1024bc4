"""What 2D-to-3D style transfer and 3D DeepDream share: arguments, the mesh
being edited, the optimiser, random views, resumable state and outputs.

The mesh is a ``neural_renderer.Mesh`` whose ``textures`` parameter holds
texel *logits*: the colours are ``sigmoid(textures)`` (applied by
``Mesh.get_batch``, as in the original package), which keeps them in
[0, 1] whatever the steps. Both parameters are optimised by
``neural_renderer.Adam`` with their own step sizes (``--lr-vertices``,
``--lr-textures``).
"""
import argparse
import json
import os
import platform
import sys
import time
import zipfile
import zlib

import chainer
import numpy

import neural_renderer as nr
from neural_renderer.files import atomic_output

import common
import features


def non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a number, got {!r}'
                                         .format(text))
    if not value >= 0 or not numpy.isfinite(value):
        raise argparse.ArgumentTypeError('expected a finite number >= 0, '
                                         'got {}'.format(text))
    return value


def positive_float(text):
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError('expected a number > 0, got {}'
                                         .format(text))
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected an integer, got {!r}'
                                         .format(text))
    if value < 0:
        raise argparse.ArgumentTypeError('expected an integer >= 0, got {}'
                                         .format(value))
    return value


def add_editing_arguments(parser, spec, image_size, network_defaults,
                          lr_vertices, lr_textures, name):
    """The options both examples take, with their own defaults.

    ``spec`` is the example's paper network (VGG16 or GOOGLENET);
    ``network_defaults`` maps each network's key to the defaults that
    depend on it ({'iterations': ..., other option dests}): those options
    default to None here and :func:`fill_network_defaults` sets them once
    the network is known.
    """
    parser.add_argument('--mesh', metavar='OBJ',
                        default=os.path.join(common.DATA, 'teapot.obj'),
                        help='the mesh to edit, normalised to [-1, 1] '
                             '(default: %(default)s)')
    common.add_common_arguments(parser, image_size=image_size)
    parser.add_argument('--iterations', type=common.positive_int,
                        default=None,
                        help='optimisation steps (default: {})'.format(
                            describe_defaults(network_defaults,
                                              'iterations')))
    parser.add_argument('--batch-size', type=common.positive_int, default=4,
                        help='random views per step (default: %(default)s)')
    parser.add_argument('--lr-vertices', type=non_negative_float,
                        default=lr_vertices,
                        help='Adam alpha of the vertices (default: '
                             '%(default)s; 0 freezes the shape)')
    parser.add_argument('--lr-textures', type=non_negative_float,
                        default=lr_textures,
                        help='Adam alpha of the texture logits (default: '
                             '%(default)s)')
    parser.add_argument('--texture-size', type=common.positive_int,
                        default=4, help='texels per face edge (default: '
                                        '%(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random views (and of the random '
                             'features) (default: %(default)s)')
    parser.add_argument('--save-every', type=non_negative_int, default=100,
                        help='save the state every N iterations (0: only at '
                             'the end) (default: %(default)s)')
    parser.add_argument('--state', metavar='PATH', default=None,
                        help='state file (default: OUTPUT_DIR/{}_state.npz)'
                             .format(name))
    parser.add_argument('--resume', action='store_true',
                        help='continue from the state file up to '
                             '--iterations in all')
    features.add_feature_arguments(parser, spec)
    return parser


def describe_defaults(network_defaults, dest):
    """'300 with efficientnet-lite0, 5000 with vgg16' for an option's help
    text."""
    return ', '.join('{} with {}'.format(values[dest], key)
                     for key, values in network_defaults.items())


def fill_network_defaults(args, spec, network_defaults):
    """Sets the options left at None to the chosen network's defaults."""
    for dest, value in network_defaults[spec.key].items():
        if getattr(args, dest) is None:
            setattr(args, dest, value)


def check_mesh_argument(parser, path):
    if not os.path.isfile(path):
        parser.error('--mesh: no such file: {}'.format(path))


def load_mesh(path, texture_size):
    """An ``nr.Mesh`` (CPU) from an OBJ, normalised, with texture logits 0
    (colour 0.5, mid grey)."""
    vertices, faces = nr.load_obj(path)
    logits = numpy.zeros((faces.shape[0],) + (texture_size,) * 3 + (3,),
                         numpy.float32)
    return nr.Mesh.from_arrays(vertices, faces, logits)


def make_optimizer(mesh, lr_vertices, lr_textures):
    """``nr.Adam`` (beta1 0.9, beta2 0.999, as the paper) with the step
    size ``lr_vertices`` for the vertices and ``lr_textures`` for the
    texture logits (per-parameter ``alpha``, not serialised: set again on
    resume)."""
    optimizer = nr.Adam(alpha=lr_textures, beta1=0.9, beta2=0.999)
    optimizer.setup(mesh)
    mesh.vertices.update_rule.hyperparam.alpha = lr_vertices
    mesh.textures.update_rule.hyperparam.alpha = lr_textures
    return optimizer


def choose_network(args, paper_spec):
    """The feature network's spec for the parsed arguments
    (``features.spec_from_arguments``); ``args.network`` is set to its key,
    so that the summary and the state record it."""
    spec = features.spec_from_arguments(args, paper_spec)
    args.network = spec.key
    return spec


def setup(parser, args, spec):
    """The device, the feature network (``spec``'s, see
    ``features.network_from_arguments``), the mesh and its optimizer for
    the parsed arguments. Returns ``(xp, network, weights, mesh,
    optimizer)``; ``weights`` is None with random features."""
    xp = common.select_device(args.gpu)
    network, weights = features.network_from_arguments(
        parser, spec, args, args.output_dir)
    mesh = load_mesh(args.mesh, args.texture_size)
    if args.gpu >= 0:
        network.to_gpu(args.gpu)
        mesh.to_gpu(args.gpu)
    optimizer = make_optimizer(mesh, args.lr_vertices, args.lr_textures)
    return xp, network, weights, mesh, optimizer


def colours(mesh):
    """The texel colours, sigmoid(logits), [F, T, T, T, 3] Variable (the
    sigmoid is ``Mesh.get_batch``'s)."""
    return mesh.get_batch(1)[2][0]


def evaluation_terms(model, azimuths, distance, elevation, condition):
    """The loss terms of ``model(eyes, condition(azimuths))`` (floats, no
    graph) over fixed evaluation views: eyes at ``distance`` and
    ``elevation`` degrees, one per azimuth (degrees)."""
    azimuths = numpy.array(azimuths, numpy.float32)
    eyes = nr.get_points_from_angles(
        numpy.full_like(azimuths, distance),
        numpy.full_like(azimuths, elevation), azimuths)
    with chainer.no_backprop_mode():
        terms = model(eyes, condition(azimuths))
    return {k: float(v.array) for k, v in terms.items()}


def view_rng(seed, iteration):
    """The generator of iteration ``iteration``'s random views.

    Derived from (seed, iteration) instead of one generator carried along:
    a resumed run draws exactly the views the uninterrupted run would
    have, with no generator state to save.
    """
    return numpy.random.RandomState([seed % 2 ** 32, iteration])


def sample_cameras(rng, batch, distance, distance_sigma, elevation_range):
    """Eyes [B, 3] float32: distance ``distance + sigma N(0, 1)``,
    elevation U(elevation_range) degrees, azimuth U(0, 360) degrees."""
    d = distance + distance_sigma * rng.randn(batch)
    elevation = rng.uniform(elevation_range[0], elevation_range[1], batch)
    azimuth = rng.uniform(0, 360, batch)
    return nr.get_points_from_angles(d.astype(numpy.float32),
                                     elevation.astype(numpy.float32),
                                     azimuth.astype(numpy.float32))


def render_views(renderer, mesh, eyes, xp):
    """Renders the mesh from ``eyes`` [B, 3] with the renderer's other
    settings: dict of rgb [B, 3, S, S] (Variable) and alpha [B, S, S]."""
    renderer.eye = xp.asarray(eyes)
    vertices, faces, textures = mesh.get_batch(len(eyes))  # colours
    return renderer.render_rgbad(vertices, faces, textures)


class State(object):
    """What a resumed run needs: the mesh (parameters, faces), the
    optimizer (Adam's moments and step counts), the iteration, the logged
    losses, the options the run started with and a small JSON record
    (the first evaluation). Saved and loaded with
    ``chainer.serializers.save_npz`` / ``load_npz``."""

    def __init__(self, mesh, optimizer, config):
        self.mesh = mesh
        self.optimizer = optimizer
        self.iteration = 0
        self.losses = {}
        self.config = config
        self.record = {}  # JSON-friendly facts of the run (first loss...)

    def serialize(self, serializer):
        self.mesh.serialize(serializer['mesh'])
        self.optimizer.serialize(serializer['optimizer'])
        self.iteration = int(serializer('iteration', self.iteration))
        if isinstance(serializer, chainer.serializer.Deserializer):
            # Variable-length entries: read back as they were stored.
            names = [str(n) for n in serializer('loss_names', None)]
            self.losses = {n: [float(v) for v in
                               serializer['losses'](n, None)]
                           for n in names}
            self.config = json.loads(str(serializer('config', None)))
            self.record = json.loads(str(serializer('record', None)))
        else:
            names = sorted(self.losses)
            serializer('loss_names', numpy.array(names, dtype=numpy.str_))
            for n in names:
                serializer['losses'](n, numpy.array(self.losses[n],
                                                    numpy.float64))
            serializer('config', numpy.array(json.dumps(self.config,
                                                        sort_keys=True)))
            serializer('record', numpy.array(json.dumps(self.record,
                                                        sort_keys=True)))

    def save(self, path):
        """Writes to a temporary file, then renames: a run killed while
        saving leaves the previous state intact."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with atomic_output(path) as temporary:
            chainer.serializers.save_npz(temporary, self, compression=False)

    def load(self, path):
        """Loads ``path`` into this state; the mesh must have the shape of
        the one saved. Returns the options that differ from the saved run's
        (name -> (saved, now)); the state keeps the current ones."""
        now = dict(self.config)
        try:
            # Read in full first: a damaged file fails here, with a
            # message of its own, before anything is loaded.
            npz = numpy.load(path, allow_pickle=False)
            if not isinstance(npz, numpy.lib.npyio.NpzFile):
                raise ValueError('an .npy array, not an .npz archive')
            with npz:
                arrays = {key: npz[key] for key in npz.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile,
                zlib.error) as error:
            raise ValueError('--resume: cannot read the state file {} '
                             '({}: {})'.format(path, type(error).__name__,
                                               error))
        try:
            chainer.serializers.NpzDeserializer(arrays).load(self)
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError('--resume: {} does not hold a state of this '
                             'mesh and example ({})'.format(path, error))
        changed = {k: (self.config.get(k), now[k]) for k in now
                   if self.config.get(k) != now[k]}
        self.config = now  # later saves record the options now in use
        return changed


def setup_state(parser, args, mesh, optimizer, config, name):
    """The run's State; with ``--resume`` loaded from the state file (a
    missing file is an error). Prints the options that differ from the
    saved run's."""
    path = args.state or os.path.join(args.output_dir,
                                      '{}_state.npz'.format(name))
    state = State(mesh, optimizer, config)
    if args.resume:
        if not os.path.isfile(path):
            parser.exit(1, '{}: error: --resume: no state at {}\n'.format(
                parser.prog, path))
        try:
            changed = state.load(path)
        except ValueError as error:
            parser.exit(1, '{}: error: {}\n'.format(parser.prog, error))
        for key, (before, now) in sorted(changed.items()):
            print('note: {} was {!r} in the saved run, now {!r}'.format(
                key, before, now))
        print('resuming from iteration {} ({})'.format(state.iteration,
                                                       path))
    return state, path


def run_config(args, keys):
    """The options that define a run, as a JSON-friendly dict."""
    return {k: getattr(args, k) for k in keys}


def optimise(state, state_path, step, iterations, save_every, description):
    """Runs ``step(iteration)`` (which returns a dict of float losses, with
    'total') from the state's iteration up to ``iterations``, with a
    progress bar; logs the losses into the state and saves it every
    ``save_every`` iterations and at the end. Returns the seconds per
    iteration of this run (None if no iteration ran)."""
    remaining = iterations - state.iteration
    start = time.time()
    if remaining > 0:
        bar = common.progress(remaining, description)
        for _ in bar:
            values = step(state.iteration)
            for key, value in values.items():
                state.losses.setdefault(key, []).append(value)
            state.iteration += 1
            bar.set_postfix(loss='{:.4g}'.format(values['total']),
                            refresh=False)
            if save_every and state.iteration % save_every == 0:
                state.save(state_path)
    state.save(state_path)
    return (time.time() - start) / remaining if remaining > 0 else None


def write_outputs(name, out, mesh, renderer, losses, plot_title, summary,
                  warning, turntable_distance=2.732, turntable_elevation=30,
                  made_by=None):
    """The edited mesh (.obj + .mtl + texture .png, colours through the
    sigmoid), a turntable GIF (``made_by`` in its comment), the loss plot
    and a summary JSON; with
    random features (``warning`` not None) also ``<name>_RANDOM_FEATURES.txt``
    and the warning in the plot's title and the summary (a stale warning
    file from an earlier random run is removed otherwise).

    Returns a dict of the written paths.
    """
    os.makedirs(out, exist_ok=True)
    paths = {
        'mesh': os.path.join(out, name + '.obj'),
        'gif': os.path.join(out, name + '.gif'),
        'loss_plot': os.path.join(out, name + '_loss.png'),
        'summary': os.path.join(out, name + '_summary.json'),
    }
    warning_path = os.path.join(out, name + '_RANDOM_FEATURES.txt')
    vertices = mesh.vertices.array
    textures = colours(mesh).array
    nr.save_obj(paths['mesh'], common.to_cpu(vertices),
                common.to_cpu(mesh.faces), common.to_cpu(textures))
    common.save_gif(paths['gif'], common.turntable(
        renderer, vertices[None], mesh.faces[None], textures[None],
        distance=turntable_distance, elevation=turntable_elevation),
        comment=made_by)
    if warning is not None:
        plot_title = 'RANDOM FEATURES (not the paper\'s result)\n' + \
            plot_title
        with atomic_output(warning_path) as temporary:
            with open(temporary, 'w') as f:
                f.write(warning + '\n')
        paths['warning'] = warning_path
    elif os.path.exists(warning_path):
        os.remove(warning_path)
    common.plot_loss(paths['loss_plot'], losses, plot_title)
    summary = dict(summary, random_features=warning is not None,
                   warning=warning, outputs=paths,
                   machine=platform.processor() or platform.machine())
    with atomic_output(paths['summary']) as temporary:
        with open(temporary, 'w') as f:
            json.dump(summary, f, indent=1, sort_keys=True)
    return paths


def run(parser, args, name, spec, mesh, network, optimizer, objective,
        config, weights, sample_step, turntable, plot_title, evaluation_views,
        start, success=None, **write_kwargs):
    """The loop and the outputs both examples share.

    ``spec`` is the feature network's (``features.EFFICIENTNET``,
    ``features.VGG16`` or ``features.GOOGLENET``), ``weights`` its file or
    None (random). The summary, the loss plot's title and the printed
    result name the network.
    ``objective(*sample_step(seed, iteration, batch_size))`` gives the loss
    terms of one step (a dict of Variables with 'total');
    ``objective.evaluate()`` the terms over the fixed evaluation views
    (floats); ``objective.plot_series(losses)`` the curves of the loss plot
    (label -> values per iteration) from the logged terms. Loads the state
    with ``--resume``, optimises up to ``--iterations``, evaluates before
    (once per run from the start) and after, and writes the outputs
    (:func:`write_outputs`, which takes ``write_kwargs``). Returns the paths
    written, the evaluations, the losses, the iteration count, the seconds
    per iteration, the vertices and whether the features were random.

    ``success(first, final)``, if given, turns the evaluations before and
    after into the example's success figure: a dict with at least 'line'
    (printed) and 'passed' (bool), stored in the summary and returned as
    'success' (None when the run did not start from iteration 0 with this
    state).
    """
    warning = None if weights is not None else \
        features.random_features_warning(spec)
    state, state_path = setup_state(parser, args, mesh, optimizer, config,
                                    name)
    if state.iteration == 0:
        state.record['first_evaluation'] = objective.evaluate()
    first = state.record.get('first_evaluation')

    def step(iteration):
        terms = objective(*sample_step(args.seed, iteration,
                                       args.batch_size))
        mesh.cleargrads()
        network.cleargrads()
        terms['total'].backward()
        optimizer.update()
        return {k: float(v.array) for k, v in terms.items()}

    seconds = optimise(state, state_path, step, args.iterations,
                       args.save_every, name.replace('_', ' '))
    final = objective.evaluate()
    summary = {
        'example': name, 'options': vars(args), 'weights': weights,
        'network': spec.title,
        'iterations': state.iteration, 'seconds_per_iteration': seconds,
        'first_evaluation': first, 'final_evaluation': final,
        'evaluation_views': evaluation_views,
        'final_losses': {k: v[-1] for k, v in state.losses.items()},
    }
    figure = None
    if success is not None and first is not None:
        figure = success(first, final)
        summary['success'] = figure
    plot_title = '{}\n{}'.format(plot_title, spec.title)
    series = objective.plot_series(state.losses)
    made_by = '{} with {} ({})'.format(
        name, spec.title, 'random weights' if weights is None else weights)
    paths = write_outputs(name, args.output_dir, mesh, turntable,
                          series, plot_title, summary,
                          warning, made_by=made_by, **write_kwargs)
    for key in ('mesh', 'gif', 'loss_plot', 'summary', 'warning'):
        if key in paths:
            print('wrote', paths[key])
    if first is not None:
        print('{}: loss over {} fixed views: {:.4g} -> {:.4g} ({:.0f} s)'
              .format(spec.title, len(evaluation_views['azimuths']),
                      first['total'], final['total'], time.time() - start))
    if figure is not None:
        print('{}: {}'.format(spec.title, figure['line']))
    if warning is not None:
        print(warning, file=sys.stderr)
    return dict(paths, first_evaluation=first, final_evaluation=final,
                success=figure,
                losses=state.losses, iterations=state.iteration,
                seconds_per_iteration=seconds, vertices=mesh.vertices.array,
                random_features=warning is not None, network=spec.title)
