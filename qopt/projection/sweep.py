r"""The optimal free scale of any set by the full breakpoint sweep (any device, no host sync).

Each entry :math:`w_i` changes code when :math:`\alpha` crosses :math:`|w_i|/|m_j|` for a
midpoint :math:`m_j` of its sign (:mod:`qopt.projection.tables`); all :math:`E\cdot n` events are
sorted by decreasing :math:`\alpha` (one stable sort, events of one entry innermost first), and
the running :math:`s_1 = \langle w, z\rangle`, :math:`s_2 = \|z\|^2` are cumulative sums; the best
code vector maximises :math:`(s_1)_+^2/s_2`, the first maximum met from :math:`\alpha = +\infty`
(``torch.argmax`` returns the first maximum). This is the derivation of :mod:`theory.sweep`,
implemented independently; it serves asymmetric grids, short rows and CUDA (where the certified
search of :mod:`qopt.projection.pruned` would need host syncs for its data-dependent window).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["sweep_scale"]


def sweep_scale(a: Tensor, tb: dict[str, Tensor]) -> Tensor:
    """Optimal free scale per row of ``a`` (C, n) by the breakpoint sweep (module docstring)."""
    C, n = a.shape
    z0 = torch.where(a >= 0, tb["z0"][0], tb["z0"][1])
    s1_0 = torch.sum(a * z0, dim=1, keepdim=True)
    s2_0 = torch.sum(z0 * z0, dim=1, keepdim=True)
    E = tb["pos_div"].numel()
    if E == 0:
        s1, s2 = s1_0, s2_0
    else:
        order = torch.sort(-a.abs(), dim=1, stable=True).indices  # decreasing |w|, stable
        a_s = torch.gather(a, 1, order)
        absw = a_s.abs()[:, None, :]  # (C, 1, n)
        p_s, n_s = (a_s > 0)[:, None, :], (a_s < 0)[:, None, :]
        zero = a.new_zeros(())

        def col(x: Tensor) -> Tensor:
            return x[None, :, None]  # (1, E, 1)

        keys = torch.where(p_s, absw / col(tb["pos_div"]),
                           torch.where(n_s, absw / col(tb["neg_div"]), zero))
        dz = torch.where(p_s, col(tb["pos_dz"]), torch.where(n_s, col(tb["neg_dz"]), zero))
        d2 = torch.where(p_s, col(tb["pos_dz2"]), torch.where(n_s, col(tb["neg_dz2"]), zero))
        d1 = a_s[:, None, :] * dz
        perm = torch.sort(-keys.reshape(C, E * n), dim=1, stable=True).indices
        d1 = torch.gather(d1.reshape(C, E * n), 1, perm)
        d2 = torch.gather(d2.reshape(C, E * n), 1, perm)
        s1 = torch.cat([s1_0, s1_0 + torch.cumsum(d1, dim=1)], dim=1)
        s2 = torch.cat([s2_0, s2_0 + torch.cumsum(d2, dim=1)], dim=1)
    s1p = torch.clamp_min(s1, 0.0)
    good = s2 > 0
    value = torch.where(good, s1p * s1p / torch.where(good, s2, torch.ones_like(s2)),
                        torch.zeros_like(s2))
    k = torch.argmax(value, dim=1, keepdim=True)
    b1, b2 = torch.gather(s1p, 1, k)[:, 0], torch.gather(s2, 1, k)[:, 0]
    return torch.where(b2 > 0, b1 / torch.where(b2 > 0, b2, torch.ones_like(b2)),
                       torch.zeros_like(b2))
