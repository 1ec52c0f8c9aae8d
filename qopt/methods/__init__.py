"""Training methods of :class:`qopt.QuantOptimizer`: one file per method, a protocol, a registry.

=====================  =====================================================================
module                 what
=====================  =====================================================================
:mod:`.base`           the :class:`~qopt.methods.base.QuantMethod` protocol the optimizer drives
:mod:`.registry`       names -> classes (:data:`METHODS`, :data:`ALIASES`, :func:`make_method`)
:mod:`.binaryconnect`  u = P(w)
:mod:`.binaryrelax`    u = (w + λP(w))/(1 + λ), λ continuation, then u = P(w)
:mod:`.bcgd`           u = P(w); base step from (1-ρ)w + ρu
:mod:`.parq`           u = PARQ's piecewise-affine prox, inverse slope annealed to 0
:mod:`.proxquant`      u = soft threshold of w toward P(w) by ηλ; base step from u
=====================  =====================================================================

Everything here imports without torch (tensor work imports it inside the functions).
"""

from qopt.methods.registry import ALIASES, METHODS, as_method, make_method, method_fields

# every registered method class under its class name (qopt.methods.PARQ, ...): adding a method
# is its file plus one line in the registry, nothing here
globals().update({cls.__name__: cls for cls in METHODS.values()})

__all__ = ["ALIASES", "METHODS", "as_method", "make_method", "method_fields"]
__all__.extend(cls.__name__ for cls in METHODS.values())
