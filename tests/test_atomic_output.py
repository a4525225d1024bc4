"""Outputs are written to a temporary name and renamed (audit issue 25,
item 7): an interrupted write keeps the earlier file, an existing file
keeps its permissions, a symlinked output is written through, and save_obj
refuses what load_obj would refuse."""
import os
import stat

import numpy
import pytest

import neural_renderer as nr
from neural_renderer.files import atomic_output

TRIANGLE = numpy.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], numpy.float32)
FACE = numpy.array([[0, 1, 2]], numpy.int32)


class Interrupted(BaseException):
    pass


def test_an_interrupted_write_keeps_the_earlier_file(tmp_path):
    path = tmp_path / 'out.txt'
    path.write_text('earlier')
    with pytest.raises(Interrupted):
        with atomic_output(str(path)) as temporary:
            with open(temporary, 'w') as f:
                f.write('half of the new')
            raise Interrupted()
    assert path.read_text() == 'earlier'
    assert sorted(os.listdir(str(tmp_path))) == ['out.txt']


def test_permissions_are_kept_and_links_written_through(tmp_path):
    target = tmp_path / 'target.obj'
    nr.save_obj(str(target), TRIANGLE, FACE)
    os.chmod(str(target), 0o640)
    link = tmp_path / 'link.obj'
    os.symlink(str(target), str(link))
    nr.save_obj(str(link), TRIANGLE * 2, FACE)
    assert os.path.islink(str(link))  # the link stays
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o640
    vertices, _ = nr.load_obj(str(target), normalization=False)
    numpy.testing.assert_array_equal(vertices, TRIANGLE * 2)
    assert sorted(os.listdir(str(tmp_path))) == ['link.obj', 'target.obj']


def test_save_obj_interrupted_keeps_the_earlier_files(tmp_path,
                                                      monkeypatch):
    path = tmp_path / 'mesh.obj'
    textures = numpy.full((1, 2, 2, 2, 3), 0.5, numpy.float32)
    nr.save_obj(str(path), TRIANGLE, FACE, textures)
    before = {name: (tmp_path / name).read_bytes()
              for name in os.listdir(str(tmp_path))}
    assert sorted(before) == ['mesh.mtl', 'mesh.obj', 'mesh.png']
    real_replace = os.replace

    def full_disk(source, destination):
        if destination.endswith('.obj'):
            raise OSError(28, 'No space left on device')
        return real_replace(source, destination)

    monkeypatch.setattr(os, 'replace', full_disk)
    with pytest.raises(OSError, match='No space'):
        nr.save_obj(str(path), TRIANGLE * 3, FACE, textures)
    monkeypatch.setattr(os, 'replace', real_replace)
    assert (tmp_path / 'mesh.obj').read_bytes() == before['mesh.obj']
    assert sorted(os.listdir(str(tmp_path))) == sorted(before)
    nr.load_obj(str(path), load_texture=True)


def test_save_obj_refuses_what_load_obj_refuses(tmp_path):
    with pytest.raises(ValueError, match='no faces'):
        nr.save_obj(str(tmp_path / 'a.obj'), TRIANGLE,
                    numpy.zeros((0, 3), numpy.int32))
    with pytest.raises(ValueError, match='beyond float32'):
        nr.save_obj(str(tmp_path / 'b.obj'),
                    TRIANGLE.astype(numpy.float64) * 1e39, FACE)
    assert os.listdir(str(tmp_path)) == []
