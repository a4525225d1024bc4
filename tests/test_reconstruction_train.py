"""Training the reconstruction model with Chainer's Trainer: loss, files,
exact resume, the learning-rate drop, and ChainerMN replicas."""
import os
import shutil
import subprocess
import sys

import numpy
import pytest

import chainer

HERE = os.path.dirname(os.path.abspath(__file__))
RECONSTRUCTION = os.path.join(HERE, '..', 'examples', 'reconstruction')
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
