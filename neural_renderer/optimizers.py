"""Adam that leaves untouched what got no gradient, with per-parameter rates.

Rendering gives exactly zero gradient to everything that is not visible
(hidden vertices, texels of occluded faces). Plain Adam would still move
those elements using their momentum; the original package's Adam skips
them, which keeps unseen parts of a mesh where they are.
"""
import numpy

from chainer.backends import cuda
from chainer import optimizers
from chainer.optimizers import adam


def _lr_multiplier(param):
    # ``mesh.vertices.lr = 0.01`` (the original's convention) scales this
    # parameter's steps only.
    return float(getattr(param, 'lr', 1.0))


def _intermediate_dtype(dtype):
    # Half precision parameters are updated in float32, as chainer's Adam.
    return numpy.dtype(numpy.float32) if dtype == numpy.float16 else \
        numpy.dtype(dtype)


class AdamRule(adam.AdamRule):
    """Adam update rule that skips elements whose gradient is exactly 0.

    For each element with ``grad != 0``:
    ``m += (1 - beta1) (grad - m)``, ``v += (1 - beta2) (grad^2 - v)``,
    ``param -= eta lr (alpha_t m / (sqrt(v) + eps) + weight_decay_rate
    param)``, where ``alpha_t`` is chainer's bias-corrected rate (it uses
    this rule's ``hyperparam.alpha``, so per-parameter ``alpha`` overrides
    work) and ``lr`` is the parameter's ``lr`` attribute (1 if absent).
    Elements with ``grad == 0`` keep their param, m and v. The step counter
    ``t`` is per parameter, as in chainer, and advances on every update.

    AMSGrad and AdaBound are not supported.
    """

    _skip_kernel = None

    def update_core_cpu(self, param):
        grad = param.grad
        if grad is None:
            return
        hp = self.hyperparam
        dtype = _intermediate_dtype(param.dtype)
        self._check_eps(dtype.type)
        grad = grad.astype(dtype, copy=False)
        mask = grad != 0
        if not mask.any():
            return
        m, v = self.state['m'], self.state['v']
        g = grad[mask]
        m_new = m[mask] + (1. - hp.beta1) * (g - m[mask])
        v_new = v[mask] + (1. - hp.beta2) * (g * g - v[mask])
        m[mask] = m_new
        v[mask] = v_new
        data = param.data
        p = data[mask].astype(dtype, copy=False)
        step = (self.alpha_t * m_new.astype(dtype, copy=False)
                / (numpy.sqrt(v_new.astype(dtype, copy=False)) + hp.eps)
                + hp.weight_decay_rate * p)
        data[mask] = p - hp.eta * _lr_multiplier(param) * step

    def update_core_gpu(self, param):
        grad = param.grad
        if grad is None:
            return
        hp = self.hyperparam
        dtype = _intermediate_dtype(param.dtype)
        self._check_eps(dtype.type)
        if self._dummy is None:
            self._dummy = cuda.cupy.empty((0,), dtype=dtype)
        if AdamRule._skip_kernel is None:
            # Same math as update_core_cpu, one thread per element; T is the
            # intermediate type (deduced from the dummy), P the param type.
            AdamRule._skip_kernel = cuda.elementwise(
                'P grad, T alpha_t, T one_minus_beta1, T one_minus_beta2, '
                'T eps, T eta_lr, T weight_decay_rate, raw T dummy',
                'P param, P m, P v',
                '''
                T g = static_cast<T>(grad);
                if (g != 0) {
                    T m_ = static_cast<T>(m);
                    T v_ = static_cast<T>(v);
                    m_ += one_minus_beta1 * (g - m_);
                    v_ += one_minus_beta2 * (g * g - v_);
                    m = static_cast<P>(m_);
                    v = static_cast<P>(v_);
                    T p = static_cast<T>(param);
                    p -= eta_lr * (alpha_t * m_ / (sqrt(v_) + eps)
                                   + weight_decay_rate * p);
                    param = static_cast<P>(p);
                }
                ''',
                'neural_renderer_adam_skip_zero')
        AdamRule._skip_kernel(
            grad, self.alpha_t, 1. - hp.beta1, 1. - hp.beta2, hp.eps,
            hp.eta * _lr_multiplier(param), hp.weight_decay_rate,
            self._dummy, param.data, self.state['m'], self.state['v'])


class Adam(optimizers.Adam):
    """``chainer.optimizers.Adam`` whose rule skips zero-gradient elements
    and honours a per-parameter ``lr`` attribute (see :class:`AdamRule`).

    Usage as the original package::

        optimizer = neural_renderer.Adam(alpha=0.1, beta1=0.5)
        optimizer.setup(model)
        model.vertices.lr = 0.01   # optional: slower vertex updates

    Args: as ``chainer.optimizers.Adam`` (alpha, beta1, beta2, eps, eta,
    weight_decay_rate); ``amsgrad`` and ``adabound`` must stay False.
    """

    def __init__(self, alpha=0.001, beta1=0.9, beta2=0.999, eps=1e-8,
                 eta=1.0, weight_decay_rate=0, amsgrad=False,
                 adabound=False):
        if amsgrad or adabound:
            raise ValueError(
                'neural_renderer.Adam does not support amsgrad or adabound')
        super(Adam, self).__init__(
            alpha=alpha, beta1=beta1, beta2=beta2, eps=eps, eta=eta,
            weight_decay_rate=weight_decay_rate)

    def create_update_rule(self):
        return AdamRule(self.hyperparam)
