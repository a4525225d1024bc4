"""Flat ambient + directional lighting of per-face textures (paper sec. 3.5).
"""
import chainer.functions as F

from neural_renderer import _checks
from neural_renderer.face_light import face_light  # NOQA: also exported here


def lighting(faces, textures, intensity_ambient=0.5, intensity_directional=0.5,
             color_ambient=(1, 1, 1), color_directional=(1, 1, 1),
             direction=(0, 1, 0)):
    """Multiplies each face's texels by its flat ambient + directional light.

    light = I_a c_a + I_d c_d max(n . direction, 0) per face, with the
    world-space normal n = normalize((v0 - v1) x (v2 - v1)) (the original's
    order: it points toward a viewer who sees the face counter-clockwise in
    the renderer's camera frame). ``direction`` points from the surface
    toward the light (the default [0, 1, 0] lights faces whose normals point
    up) and is used as given, not normalised, as in the original.

    Args:
        faces: [B, F, 3, 3] float array or Variable, world coordinates of
            each face's vertices (before the camera transform).
        textures: [B, F, T, T, T, 3] float array or Variable.
        intensity_ambient, intensity_directional: I_a, I_d: Python number,
            or float array/Variable of shape [] or [B].
        color_ambient, color_directional: c_a, c_d: list/tuple/array [3] or
            [B, 3], or a Variable of those shapes.
        direction: list/tuple/array [3] or [B, 3], or a Variable.

    Returns:
        chainer.Variable [B, F, T, T, T, 3] of the dtype of ``textures``.
        Differentiable w.r.t. faces, textures and every light argument given
        as a Variable. A zero-area face gets ambient light only; its output
        and gradients are finite.
    """
    f_array = _checks.check_array('faces', faces, ndim=4, shape_suffix=(3, 3))
    t_array = _checks.check_array('textures', textures, ndim=6,
                                  shape_suffix=(3,))
    batch_size, num_faces = f_array.shape[:2]
    if t_array.shape[:2] != f_array.shape[:2]:
        raise ValueError(
            'textures: shape {} does not start with faces\' [B, F] = {}'
            .format(tuple(t_array.shape), tuple(f_array.shape[:2])))
    if not t_array.shape[2] == t_array.shape[3] == t_array.shape[4]:
        raise ValueError('textures: expected cubes [B, F, T, T, T, 3], got '
                         '{}'.format(tuple(t_array.shape)))

    light = face_light(faces, intensity_ambient, intensity_directional,
                       color_ambient, color_directional, direction,
                       dtype_like=t_array)
    light = F.reshape(light, (batch_size, num_faces, 1, 1, 1, 3))
    return textures * F.broadcast_to(light, t_array.shape)
