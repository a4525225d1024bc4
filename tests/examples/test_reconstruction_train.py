"""Training the reconstruction model with Chainer's Trainer: loss, files,
exact resume (across epochs, and from damaged or foreign files in the
output directory), the learning-rate drop, and ChainerMN replicas."""
import os
import shutil
import subprocess
import sys

import numpy
import pytest

import chainer

HERE = os.path.dirname(os.path.abspath(__file__))
RECONSTRUCTION = os.path.join(HERE, '..', '..', 'examples', 'reconstruction')
sys.path.insert(0, RECONSTRUCTION)
import make_synthetic  # noqa: E402
import train  # noqa: E402


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('synthetic'))
    # Not stretched: with 2 objects a class, the stretched ones make the
    # loss of 10 steps too noisy to compare first and last.
    make_synthetic.generate(path, {'train': 2, 'val': 1, 'test': 0},
                            'chair,table', seed=1, progress=False,
                            stretch=0)
    return path


def run(data_dir, out, *extra):
    return train.main(['--data-dir', data_dir, '-o', str(out),
                       '--classes', 'chair,table', '--batch-size', '2',
                       '--image-size', '32', '--val-interval', '2',
                       '--learning-rate', '1e-4',
                       '--max-val-objects', '1', '--no-progress'] +
                      list(extra))


def parameters(path):
    with numpy.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def test_view_pairs_are_fixed_by_index_and_differ():
    images = numpy.zeros((3, 24, 4, 8, 8), numpy.uint8)
    pairs = train.ViewPairs(images, seed=5)
    assert len(pairs) == 72
    seconds = [pairs.second_view(i) for i in range(72)]
    assert all(b != i % 24 for i, b in enumerate(seconds))
    assert seconds == [train.ViewPairs(images, seed=5).second_view(i)
                       for i in range(72)]
    assert len(set(seconds)) > 10
    a, b, eye_a, eye_b = pairs[30]
    assert a.shape == (4, 8, 8) and a.dtype == numpy.float32
    numpy.testing.assert_allclose(numpy.linalg.norm(eye_a), 2.732, rtol=1e-5)


def test_training_lowers_the_loss_and_writes_its_files(data_dir, tmp_path):
    trainer = run(data_dir, tmp_path, '--iterations', '10',
                  '--snapshot-interval', '5', '--lambda-smoothness', '0')
    log = trainer.get_extension('LogReport').log
    losses = [entry['main/loss'] for entry in log]
    assert numpy.isfinite(losses).all()
    assert losses[-1] < losses[0], losses
    assert 'validation/main/iou' in log[-1]
    for name in ('log', 'loss.png', 'iou.png', 'snapshot_iter_5',
                 'snapshot_iter_10', 'model_final.npz'):
        assert os.path.isfile(os.path.join(str(tmp_path), name)), name


def test_resume_continues_exactly_and_keeps_the_rate_drop(data_dir,
                                                          tmp_path):
    # 4 iterations straight, against 2 + (killed) + resume to 4. The rate
    # drops at int(0.95 * 4) = 3.
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    run(data_dir, straight, '--iterations', '4', '--snapshot-interval', '2')
    run(data_dir, split, '--iterations', '4', '--snapshot-interval', '2')
    for name in os.listdir(str(split)):
        if name not in ('snapshot_iter_2',):
            path = os.path.join(str(split), name)
            (shutil.rmtree if os.path.isdir(path) else os.remove)(path)
    trainer = run(data_dir, split, '--iterations', '4',
                  '--snapshot-interval', '2', '--resume', 'auto')
    assert trainer.updater.iteration == 4
    a = parameters(os.path.join(str(straight), 'model_final.npz'))
    b = parameters(os.path.join(str(split), 'model_final.npz'))
    assert a.keys() == b.keys()
    for key in a:
        numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)
    optimizer = trainer.updater.get_optimizer('main')
    assert optimizer.alpha == pytest.approx(1e-5)
    centroid = trainer.updater.get_optimizer('main').target.decoder \
        .fc_centroid.W.update_rule.hyperparam.alpha
    assert centroid == pytest.approx(1e-6)


def test_bad_resume_path_is_one_clear_error(data_dir, tmp_path):
    with pytest.raises(SystemExit, match='--resume'):
        run(data_dir, tmp_path, '--iterations', '2', '--resume',
            str(tmp_path / 'missing'))


# -- resuming exactly, and from what a killed run leaves ----------------------

@pytest.fixture(scope='module')
def one_object(tmp_path_factory):
    """One training object (24 examples: its views) and one validation
    object, of one class."""
    path = str(tmp_path_factory.mktemp('one_object'))
    make_synthetic.generate(path, {'train': 1, 'val': 1, 'test': 0},
                            'chair', seed=1, progress=False, stretch=0)
    return path


def quick(data_dir, out, *extra):
    """A cheap run: batch 12 of the 24 examples (an epoch is 2
    iterations), a narrow encoder, 16 px silhouettes, the loss logged
    every iteration."""
    return train.main(['--data-dir', data_dir, '-o', str(out),
                       '--classes', 'chair', '--batch-size', '12',
                       '--image-size', '16', '--encoder-channels', '8,16,32',
                       '--val-interval', '1', '--learning-rate', '1e-4',
                       '--max-val-objects', '1', '--no-progress'] +
                      list(extra))


def losses(trainer):
    return [(entry['iteration'], entry['main/loss'])
            for entry in trainer.get_extension('LogReport').log]


def assert_same_arrays(path_a, path_b, prefix=''):
    a, b = parameters(path_a), parameters(path_b)
    keys = sorted(k for k in a if k.startswith(prefix))
    assert keys and keys == sorted(k for k in b if k.startswith(prefix))
    for key in keys:
        numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_resume_across_epochs_and_the_rate_drop_is_exact(one_object,
                                                         tmp_path):
    # Epochs end (and the next order is drawn) at iterations 2 and 4; the
    # rate drops after iteration int(0.6 * 5) = 3. The run killed after
    # its snapshot at 3 (past both the first shuffle and the drop) resumes
    # and must draw the shuffle at 4 and use the rate of 4 and 5 as the
    # straight run does.
    straight, killed = tmp_path / 'straight', tmp_path / 'killed'
    options = ['--iterations', '5', '--snapshot-interval', '3',
               '--lr-drop', '0.6']
    first = quick(one_object, straight, *options)
    killed.mkdir()
    shutil.copy(str(straight / 'snapshot_iter_3'), str(killed))
    resumed = quick(one_object, killed, '--resume', 'auto', *options)
    assert resumed.updater.iteration == 5
    assert [i for i, _ in losses(first)] == [1, 2, 3, 4, 5]
    assert losses(resumed) == losses(first)
    assert_same_arrays(str(straight / 'model_final.npz'),
                       str(killed / 'model_final.npz'))
    # Adam's moments, the iterator and its generator too.
    assert_same_arrays(str(straight / 'snapshot_iter_5'),
                       str(killed / 'snapshot_iter_5'), prefix='updater/')
    assert resumed.updater.get_optimizer('main').alpha == \
        pytest.approx(1e-5)


@pytest.fixture(scope='module')
def two_snapshots(one_object, tmp_path_factory):
    """A 2-iteration run of batch 2 (within one epoch) with snapshots at
    1 and 2: its folder."""
    out = tmp_path_factory.mktemp('two_snapshots')
    quick(one_object, out, '--batch-size', '2', '--iterations', '2',
          '--snapshot-interval', '1')
    return out


def truncate(path):
    with open(str(path), 'rb') as f:
        data = f.read()
    with open(str(path), 'wb') as f:
        f.write(data[:len(data) // 2])


def without_sampler_state(path):
    arrays = parameters(str(path))
    numpy.savez(str(path) + '.npz', **{
        k: v for k, v in arrays.items() if '/order_sampler/' not in k})
    os.replace(str(path) + '.npz', str(path))


@pytest.mark.parametrize('case', ['truncated', 'empty', 'all unreadable',
                                  'foreign names', 'partial leftovers',
                                  'older snapshot'])
def test_auto_resume_from_what_a_killed_run_leaves(case, one_object,
                                                   two_snapshots, tmp_path,
                                                   capsys):
    out = tmp_path / 'out'
    out.mkdir()
    shutil.copy(str(two_snapshots / 'snapshot_iter_1'), str(out))
    last = out / 'snapshot_iter_2'
    kept = []
    if case == 'truncated':
        shutil.copy(str(two_snapshots / 'snapshot_iter_2'), str(last))
        truncate(last)
    elif case == 'empty':
        last.write_bytes(b'')
    elif case == 'all unreadable':
        last.write_bytes(b'')
        truncate(out / 'snapshot_iter_1')
    elif case == 'foreign names':
        # Not snapshots of this run: never loaded, never removed.
        kept = ['snapshot_iter_8.bak', 'snapshot_iter_9~', 'snapshot_iter_',
                'snapshot_iter_x', 'snapshot_iter_7']
        for name in kept[:-1]:
            (out / name).write_bytes(b'junk')
        (out / kept[-1]).mkdir()
    elif case == 'partial leftovers':
        # A kill while chainer's writer saved snapshot 2 (its temporary
        # folder), while LogReport wrote the log, and while model_final.npz
        # was written.
        partial = out / 'tmpsnapshot_iter_2k3_9zqab'
        partial.mkdir()
        shutil.copy(str(two_snapshots / 'snapshot_iter_2'), str(partial))
        truncate(partial / 'snapshot_iter_2')
        (out / 'logq8d1_ab2').mkdir()
        (out / 'logq8d1_ab2' / 'log.json').write_text('[')
        (out / 'tmpmodel_final.npz').write_bytes(b'PK')
        # Someone else's: kept.
        kept = ['tmpnotes', 'logbook_2026']
        (out / 'tmpnotes').write_text('mine')
        (out / 'logbook_2026').mkdir()
        (out / 'logbook_2026' / 'notes.txt').write_text('mine')
    elif case == 'older snapshot':
        without_sampler_state(out / 'snapshot_iter_1')
    capsys.readouterr()
    trainer = quick(one_object, out, '--batch-size', '2', '--iterations',
                    '2', '--snapshot-interval', '1', '--resume', 'auto')
    err = capsys.readouterr().err
    assert trainer.updater.iteration == 2
    # The run (from snapshot 1, or from the start when none can be read)
    # computes what the uninterrupted one did.
    assert_same_arrays(str(two_snapshots / 'model_final.npz'),
                       str(out / 'model_final.npz'))
    warnings = [line for line in err.splitlines() if 'warning' in line]
    if case in ('truncated', 'empty'):
        assert len(warnings) == 1, err
        assert 'unreadable snapshot {} ('.format(last) in warnings[0]
        assert ('BadZipFile' if case == 'truncated' else 'EOFError') in \
            warnings[0]
    elif case == 'all unreadable':
        assert len(warnings) == 2, err
        assert str(last) in warnings[0]
        assert str(out / 'snapshot_iter_1') in warnings[1]
    elif case == 'older snapshot':
        assert len(warnings) == 1 and 'no shuffling state' in warnings[0]
    else:
        assert warnings == [], err
    names = set(os.listdir(str(out)))
    assert not {n for n in names if n.startswith('tmpsnapshot')}
    assert 'tmpmodel_final.npz' not in names
    assert 'logq8d1_ab2' not in names
    assert set(kept) <= names


def test_bad_snapshot_given_by_path_is_one_clear_error(one_object,
                                                       two_snapshots,
                                                       tmp_path):
    truncated = tmp_path / 'snapshot_iter_2'
    shutil.copy(str(two_snapshots / 'snapshot_iter_2'), str(truncated))
    truncate(truncated)
    empty = tmp_path / 'empty'
    empty.write_bytes(b'')
    foreign = tmp_path / 'foreign.npz'
    numpy.savez(str(foreign), a=numpy.zeros(1))
    for path, reason in ((truncated, 'cannot read the snapshot'),
                         (empty, 'cannot read the snapshot'),
                         (foreign, 'is not a snapshot of this model')):
        with pytest.raises(SystemExit) as exit_info:
            quick(one_object, tmp_path / 'out', '--iterations', '2',
                  '--resume', str(path))
        message = str(exit_info.value.code)
        assert message.startswith('train.py: error: --resume: ')
        assert reason in message and str(path) in message
        assert '\n' not in message
    # A snapshot of another configuration (a wider encoder) is refused
    # the same way, also with --resume auto.
    with pytest.raises(SystemExit, match='is not a snapshot of this model'):
        quick(one_object, tmp_path / 'out', '--iterations', '2',
              '--encoder-channels', '8,16,16', '--resume',
              str(two_snapshots / 'snapshot_iter_1'))


def test_lr_drop_sets_the_iteration_of_the_drop(data_dir, tmp_path,
                                                monkeypatch):
    schedules = []
    schedule = train.learning_rate_schedule
    monkeypatch.setattr(train, 'learning_rate_schedule', lambda rate, at: (
        schedules.append((rate, at)) or schedule(rate, at)))
    trainer = run(data_dir, tmp_path, '--iterations', '4', '--lr-drop',
                  '0.5')
    assert schedules == [(1e-4, 2)]
    assert trainer.updater.get_optimizer('main').alpha == pytest.approx(1e-5)
    for bad in ('0', '1.5', 'nan'):
        with pytest.raises(SystemExit,
                           match=r'--lr-drop must be in \(0, 1\]'):
            run(data_dir, tmp_path, '--iterations', '4', '--lr-drop', bad)


def _mpiexec():
    try:
        import mpi4py  # NOQA
    except ImportError:
        return None
    candidate = os.path.join(os.path.dirname(sys.executable), 'mpiexec')
    return candidate if os.path.isfile(candidate) else shutil.which('mpiexec')


@pytest.mark.skipif(_mpiexec() is None,
                    reason='needs mpi4py and mpiexec (pip install -e '
                           '".[mpi]")')
def test_chainermn_replicas_stay_identical(data_dir, tmp_path):
    script = os.path.join(str(tmp_path), 'replicas.py')
    with open(script, 'w') as f:
        f.write('''
import sys
sys.path.insert(0, {reconstruction!r})
import chainer, numpy, chainermn, train
trainer = train.main(sys.argv[1:])
comm = chainermn.create_communicator('naive')
model = trainer.updater.get_optimizer('main').target
flat = numpy.concatenate([p.array.ravel() for _, p in
                          sorted(model.namedparams())])
gathered = comm.gather_obj(flat)
if comm.rank == 0:
    assert trainer.updater.iteration == 3
    assert not numpy.array_equal(gathered[0], numpy.zeros_like(gathered[0]))
    for other in gathered[1:]:
        numpy.testing.assert_array_equal(gathered[0], other)
    print('replicas identical', len(gathered))
'''.format(reconstruction=os.path.abspath(RECONSTRUCTION)))
    output = subprocess.check_output(
        [_mpiexec(), '-n', '2', sys.executable, script, '--data-dir',
         data_dir, '-o', str(tmp_path / 'mn'), '--classes', 'chair,table',
         '--batch-size', '1', '--image-size', '32', '--iterations', '3',
         '--val-interval', '3', '--max-val-objects', '1', '--no-progress',
         '--communicator', 'naive'], universal_newlines=True, timeout=300)
    assert 'replicas identical 2' in output


def test_encoder_channels_reach_the_saved_model_and_evaluation(data_dir,
                                                               tmp_path):
    import evaluate
    run(data_dir, tmp_path, '--iterations', '2', '--snapshot-interval', '2',
        '--encoder-channels', '8,16,32')
    final = os.path.join(str(tmp_path), 'model_final.npz')
    saved = parameters(final)
    assert saved['encoder/conv3/W'].shape == (32, 16, 5, 5)
    # The evaluation rebuilds the narrow model from the weights alone, from
    # the final model and from a trainer snapshot.
    for path in (final, os.path.join(str(tmp_path), 'snapshot_iter_2')):
        loaded = evaluate.load_model(path, chainer.get_device('@numpy'))
        assert loaded.encoder.channels == (8, 16, 32)
        numpy.testing.assert_array_equal(loaded.encoder.conv2.W.array,
                                         saved['encoder/conv2/W'])
    with pytest.raises(ValueError, match='holds no reconstruction model'):
        numpy.savez(str(tmp_path / 'other.npz'), a=numpy.zeros(1))
        evaluate.load_model(str(tmp_path / 'other.npz'),
                            chainer.get_device('@numpy'))
    for bad in ('8,16', '8,16,x', '8,0,32'):
        with pytest.raises(SystemExit, match='--encoder-channels must be'):
            run(data_dir, tmp_path, '--iterations', '2',
                '--encoder-channels', bad)


@pytest.mark.skipif(_mpiexec() is None,
                    reason='needs mpi4py and mpiexec (pip install -e '
                           '".[mpi]")')
def test_chainermn_resume_across_epochs_is_exact(one_object, tmp_path):
    # Two ranks, 12 examples each, batch 4 a rank: an epoch is 3
    # iterations. Resumed from the snapshot at 3, the run to 5 crosses into
    # the second epoch on both ranks: it must equal the uninterrupted run
    # bit for bit, so every rank's iterator (order, position, shuffling
    # generator) must come back, not only rank 0's. The killed run is the
    # straight run's snapshot at 3 and the iterator states beside it.
    def mpirun(out, iterations, *extra):
        subprocess.check_call(
            [_mpiexec(), '-n', '2', sys.executable,
             os.path.join(RECONSTRUCTION, 'train.py'), '--data-dir',
             one_object, '-o', str(out), '--classes', 'chair',
             '--batch-size', '4', '--image-size', '16',
             '--encoder-channels', '8,16,32', '--val-interval', '100',
             '--max-val-objects', '1', '--no-progress', '--communicator',
             'naive', '--snapshot-interval', '3', '--iterations',
             str(iterations)] + list(extra), timeout=300)

    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    mpirun(straight, 5)
    resumed.mkdir()
    for name in ('snapshot_iter_3', 'iterators_iter_3.npz'):
        shutil.copy(str(straight / name), str(resumed))
    mpirun(resumed, 5, '--resume', 'auto')
    for name in ('model_final.npz', 'iterators_iter_5.npz'):
        expected = parameters(str(straight / name))
        got = parameters(str(resumed / name))
        assert sorted(got) == sorted(expected)
        for key in expected:
            numpy.testing.assert_array_equal(got[key], expected[key], key)


def test_more_views_are_distinct_and_extend_the_pair():
    images = numpy.arange(2 * 24, dtype=numpy.uint8).reshape(2, 24, 1, 1, 1)
    images = numpy.broadcast_to(images, (2, 24, 4, 2, 2)).copy()
    pairs = train.ViewPairs(images, seed=5)
    sets = train.ViewPairs(images, seed=5, views=4)
    assert not pairs.multi_view and sets.multi_view
    for i in range(48):
        others = sets.other_views(i)
        assert others[0] == pairs.second_view(i)
        assert len(set(others + [i % 24])) == 4
        example = sets[i]
        # The image of object o, view v holds o * 24 + v.
        numpy.testing.assert_allclose(
            example['images'][:, 0, 0, 0] * 255,
            [(i // 24) * 24 + v for v in [i % 24] + others], atol=1e-4)
        numpy.testing.assert_array_equal(
            example['eyes'], sets.eyes[[i % 24] + others])
    weighted = train.ViewPairs(images, seed=5,
                               smoothness_weights=numpy.array([0.1, 0.]))
    assert weighted.multi_view and weighted[30]['images'].shape[0] == 2
    assert weighted[30]['smoothness_weights'] == numpy.float32(0)
    for bad in (1, 25, 2.5):
        with pytest.raises(ValueError, match='views: expected an integer'):
            train.ViewPairs(images, views=bad)
    with pytest.raises(ValueError, match='smoothness_weights: expected one '
                                         'per object \\[2\\]'):
        train.ViewPairs(images, smoothness_weights=[1.])


def test_smoothness_weights_per_class():
    labels = numpy.array([0, 1, 1, 2, 0])
    classes = ('03001627', '04379243', '04090263')  # chair, table, rifle
    weights = train.smoothness_weights_of(labels, classes, 0.001,
                                          'rifle=0.01, 04379243=0')
    numpy.testing.assert_allclose(weights, [0.001, 0, 0, 0.01, 0.001])
    for bad, message in (('rifle', 'class=weight'), ('rifle=-1', '>= 0'),
                         ('gun=1', 'unknown class'),
                         ('lamp=1', 'not among the trained classes'),
                         ('rifle=x', 'class=weight')):
        with pytest.raises(ValueError, match=message):
            train.smoothness_weights_of(labels, classes, 0.001, bad)


def test_more_views_a_smaller_encoder_input_and_class_weights_train(
        data_dir, tmp_path):
    import evaluate
    trainer = run(data_dir, tmp_path, '--iterations', '12', '--views', '3',
                  '--encoder-input-size', '32', '--encoder-channels',
                  '8,16,32', '--lambda-smoothness-classes', 'table=0.01',
                  '--learning-rate', '3e-4', '--snapshot-interval', '12')
    log = trainer.get_extension('LogReport').log
    silhouettes = [entry['main/loss_silhouettes'] for entry in log]
    assert silhouettes[-1] < silhouettes[0] - 0.05, silhouettes
    # The smoothness term is weighted 0.001 for the chairs (the default)
    # and 0.01 for the tables: between the two times the mean smoothness.
    for entry in log:
        weighted = entry['main/loss'] - entry['main/loss_silhouettes']
        assert 0.001 * entry['main/loss_smoothness'] * 0.999 < weighted < \
            0.01 * entry['main/loss_smoothness'] * 1.001, entry
    final = os.path.join(str(tmp_path), 'model_final.npz')
    assert parameters(final)['encoder/fc1/W'].shape == (1024, 32 * 4 * 4)
    loaded = evaluate.load_model(final, chainer.get_device('@numpy'))
    assert loaded.encoder.input_size == 32
    for bad, message in ((['--views', '1'], '--views must be from 2'),
                         (['--encoder-input-size', '20'],
                          '--encoder-input-size must be'),
                         (['--lambda-smoothness-classes', 'lamp=1'],
                          'not among the trained classes'),
                         (['--model', 'ptn', '--views', '3'],
                          'options of --model mesh')):
        with pytest.raises(SystemExit, match=message):
            run(data_dir, tmp_path / 'bad', '--iterations', '1', *bad)
