r"""Turn an ordinary ``nn.Module`` into a quantized one, and build the optimizer's param groups.

:func:`quantize_model` (in place):

* ``activations`` (a :class:`~qopt.nn.QuantReLU` keyword dict): every ``nn.ReLU`` module becomes
  a ``QuantReLU(**activations)`` (one per ReLU module; a ReLU *instance* reused at several places
  stays shared, so it gets one α). Functional ``F.relu`` calls cannot be seen and stay float.
  With ``{"quantizer": "uniq", "bits": b}`` instead, ReLUs stay float and every UniQ layer
  quantizes its input with a :class:`~qopt.nn.UniQActivation` (UniQ's placement), except the
  first quantized layer, whose input is the raw (signed) data and stays float (UniQ uses an
  8-bit signed input quantizer there, ``UniQInputConv2d``; not provided).
* ``weights``:

  - a ``theory.sets.QuantSet`` (or a ``parse_qset`` spec such as ``"ternary"``): every
    Conv1d/2d/3d and Linear gets ``module.qopt_qset`` and ``module.qopt_axis`` (the projection
    axis, None = per tensor); :func:`param_groups` turns the marks into the quantized groups of
    :class:`qopt.QuantOptimizer` (BinaryConnect / BinaryRelax / BCGD);
  - ``"uniq:B"``: Conv1d/Conv2d/Linear are swapped for UniQ layers of B bits (per output channel
    when ``axis=0``) sharing the original weight/bias Parameters.

* ``keep_float``: exact names from ``model.named_modules()`` (a container keeps everything in it
  float) plus ``"first"`` / ``"last"`` = the first / last Conv/Linear in registration order.
  The released codes keep different layers float: BCGD/BinaryRelax quantize every conv (the first
  included) and keep the FC classifier float; UniQ keeps the first conv and last FC at 8 bits
  (Yin et al. 2018/2019 released codes; Pham et al. 2021).

:func:`param_groups`: one group per distinct (qset, axis) with the marked weights
``{"params", "qset", "axis", "names"}``, one float group with every other parameter, and with
``no_decay`` a third group (``weight_decay=0``) for parameters whose attribute name is listed
(UniQ ``add_weight_decay``: ``delta``/``alpha``). Empty groups are omitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from qopt.nn import QuantReLU, UniQConv1d, UniQConv2d, UniQLayer, UniQLinear
from theory._validate import check_axis, check_bits, check_int
from theory.sets import QuantSet, parse_qset

__all__ = ["param_groups", "quantize_model"]

_QUANTIZABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_UNIQ_TYPES: dict[type, type] = {nn.Conv1d: UniQConv1d, nn.Conv2d: UniQConv2d,
                                 nn.Linear: UniQLinear}
_QUANT_RELU_KEYS = ("bits", "alpha", "forward", "ste", "alpha_grad", "learn_alpha", "init",
                    "alpha_grad_rate", "alpha_grad_clip", "alpha_min", "dtype", "device")


def _parse_weights(weights: object) -> QuantSet | int | None:
    """None, a QuantSet, or the UniQ bit width (int) from ``"uniq:B"``."""
    if weights is None or isinstance(weights, QuantSet):
        return weights
    if not isinstance(weights, str):
        raise TypeError(f"weights must be None, a theory.sets.QuantSet or a spec string such as "
                        f"'uniq:4' or 'ternary', got {type(weights).__name__}")
    kind, _, bits = weights.partition(":")
    if kind.strip().lower() == "uniq":
        try:
            b = int(bits)
        except ValueError:
            raise ValueError(f"weights 'uniq:B' needs an integer B, got {weights!r}") from None
        return check_bits(b, "weights bits (uniq:B)")
    try:
        return parse_qset(weights)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"weights: cannot parse {weights!r}: {exc}") from exc


def _parse_activations(activations: object) -> tuple[str, dict[str, Any]] | None:
    if activations is None:
        return None
    if not isinstance(activations, Mapping):
        raise TypeError(f"activations must be None or a dict of QuantReLU arguments, got "
                        f"{type(activations).__name__}")
    cfg = dict(activations)
    kind = cfg.pop("quantizer", "quant_relu")
    if kind not in ("quant_relu", "uniq"):
        raise ValueError(f"activations['quantizer'] must be 'quant_relu' or 'uniq', got {kind!r}")
    allowed = _QUANT_RELU_KEYS if kind == "quant_relu" else ("bits",)
    unknown = sorted(set(cfg) - set(allowed))
    if unknown or "bits" not in cfg:
        raise ValueError(f"activations: unknown keys {unknown} or missing 'bits'; allowed keys "
                         f"for quantizer={kind!r}: {allowed}")
    if kind == "quant_relu":
        QuantReLU(**cfg)  # validates every argument now, with messages naming it
    else:
        check_bits(cfg["bits"], "activations['bits']")
    return kind, cfg


def _float_names(model: nn.Module, keep_float: object) -> set[str]:
    if isinstance(keep_float, str):
        keep_float = (keep_float,)
    if not isinstance(keep_float, Sequence) or not all(isinstance(k, str) for k in keep_float):
        raise TypeError(f"keep_float must be a sequence of module names, got {keep_float!r}")
    names = dict(model.named_modules())
    layers = [n for n, m in names.items() if isinstance(m, _QUANTIZABLE)]
    out: set[str] = set()
    for k in keep_float:
        if k in ("first", "last"):
            if layers:
                out.add(layers[0] if k == "first" else layers[-1])
        elif k in names:
            out.add(k)
        else:
            shown = [n for n in names if n][:12]
            raise ValueError(f"keep_float: no module named {k!r} in the model; names are "
                             f"{shown}{' ...' if len(names) > 13 else ''} plus 'first'/'last'")
    return out


def _is_float(name: str, float_names: set[str]) -> bool:
    return any(name == f or name.startswith(f + ".") or f == "" for f in float_names)


def _axis_arg(axis: object, uniq: bool) -> int | None:
    """None or an int (its range is checked per marked layer, theory's ``check_axis``)."""
    if axis is None:
        return None
    axis = check_int(axis, "axis", -(2**31), 2**31 - 1)
    if uniq and axis != 0:
        raise ValueError(f"axis for 'uniq:B' weights must be None (per tensor) or 0 (per output "
                         f"channel), got {axis}")
    return axis


def quantize_model(model: nn.Module, weights: QuantSet | str | None = None,
                   axis: int | None = None, activations: Mapping[str, Any] | None = None,
                   keep_float: Sequence[str] = (), group_size: int | None = None) -> nn.Module:
    """Quantize ``model`` in place and return it (module docstring for the rules).

    Args:
        model: any ``nn.Module``.
        weights: None (weights untouched), a QuantSet / set spec (mark layers for
            :class:`qopt.QuantOptimizer`), or ``"uniq:B"`` (swap for UniQ layers).
        axis: per-output-channel axis of the weight quantization (None = per tensor; UniQ: 0).
        activations: None, ``QuantReLU`` keyword arguments (``{"bits": 4, "ste": "relu"}``), or
            ``{"quantizer": "uniq", "bits": b}``.
        keep_float: module names kept float, plus ``"first"``/``"last"``.
        group_size: None, or g >= 1: one scale per block of g consecutive weights of each row
            (each slice along ``axis`` flattened, or the whole weight for ``axis=None``; a
            shorter tail block is its own block: :mod:`theory.groups`). Marked as
            ``module.qopt_group_size``; not for UniQ weights.

    Raises:
        TypeError / ValueError naming the argument: non-Module model, bad ``weights`` spec or
        bits, bad ``axis`` (also out of range for a marked weight), unknown ``keep_float`` name,
        invalid activation arguments, UniQ activations without UniQ weights, a root module that
        would have to be replaced, a Conv3d that UniQ cannot wrap.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    wq = _parse_weights(weights)
    uniq_bits = wq if isinstance(wq, int) else None
    axis = _axis_arg(axis, uniq_bits is not None)
    from qopt.projection.blocks import check_group_size

    group_size = check_group_size(group_size)
    if group_size is not None and not isinstance(wq, QuantSet):
        raise ValueError("group_size needs a weight set (weights=SPEC, not None or 'uniq:B')")
    act = _parse_activations(activations)
    if act is not None and act[0] == "uniq" and uniq_bits is None:
        raise ValueError("activations {'quantizer': 'uniq'} needs weights='uniq:B'")
    float_names = _float_names(model, keep_float)
    ref = next(model.parameters(), None)
    device = ref.device if ref is not None else None
    fdtype = ref.dtype if ref is not None and ref.is_floating_point() else None
    root_kept = _is_float("", float_names)
    if not root_kept and ((isinstance(model, nn.ReLU) and act is not None
                           and act[0] == "quant_relu")
                          or (isinstance(model, _QUANTIZABLE) and uniq_bits is not None)):
        raise ValueError("model: the root module itself would have to be replaced; wrap it in "
                         "an nn.Sequential first")
    first_layer = next((n for n, m in model.named_modules() if isinstance(m, _QUANTIZABLE)), None)

    def convert(name: str, mod: nn.Module) -> nn.Module:
        if isinstance(mod, nn.ReLU) and act is not None and act[0] == "quant_relu":
            return QuantReLU(**{"dtype": fdtype, "device": device, **act[1]})
        if not isinstance(mod, _QUANTIZABLE):
            return mod
        if isinstance(mod, UniQLayer):
            if isinstance(wq, QuantSet):
                raise ValueError(f"weights: layer {name!r} is already a UniQ layer; it cannot "
                                 f"also be marked with {wq.spec}")
            return mod
        if isinstance(wq, QuantSet):
            try:
                check_axis(axis, mod.weight.dim())
            except ValueError as exc:
                raise ValueError(f"{name!r} weight of shape {tuple(mod.weight.shape)}: {exc}"
                                 ) from None
            mod.qopt_qset, mod.qopt_axis = wq, axis
            if group_size is not None:
                mod.qopt_group_size = group_size
            elif "qopt_group_size" in mod.__dict__:
                delattr(mod, "qopt_group_size")
        elif uniq_bits is not None:
            cls = _UNIQ_TYPES.get(type(mod))
            if cls is None:
                raise ValueError(f"weights 'uniq:B': cannot wrap {name!r} of type "
                                 f"{type(mod).__name__}; keep it float (keep_float)")
            act_bits = act[1]["bits"] if act is not None and act[0] == "uniq" else None
            return cls.from_float(mod, uniq_bits, per_channel=axis == 0,
                                  act_bits=None if name == first_layer else act_bits)
        return mod

    if isinstance(model, _QUANTIZABLE) and not root_kept:
        convert("", model)
    memo: dict[int, nn.Module] = {}
    for pname, parent in list(model.named_modules(remove_duplicate=False)):
        for cname, child in list(parent._modules.items()):
            if child is None:
                continue
            full = f"{pname}.{cname}" if pname else cname
            if _is_float(full, float_names):
                for m in child.modules():
                    for attr in ("qopt_qset", "qopt_axis", "qopt_group_size"):
                        if attr in m.__dict__:
                            delattr(m, attr)
                continue
            if id(child) not in memo:
                memo[id(child)] = convert(full, child)
            if memo[id(child)] is not child:
                setattr(parent, cname, memo[id(child)])
    return model


def param_groups(model: nn.Module, no_decay: Sequence[str] | None = None,
                 **base_group_kwargs: Any) -> list[dict[str, Any]]:
    """Parameter groups for ``torch.optim`` / :class:`qopt.QuantOptimizer` (module docstring).

    Args:
        model: a model prepared by :func:`quantize_model`.
        no_decay: attribute names (last component of the parameter name, e.g. ``("delta",
            "alpha")``) whose float parameters go to a ``weight_decay=0`` group.
        **base_group_kwargs: copied into every group (e.g. ``weight_decay``, ``lr``).

    Returns:
        ``[{"params", "qset", "axis", "names", ...}, ..., {"params", "names", ...}]``; each
        parameter appears exactly once (tied parameters under their first name).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if no_decay is None:
        no_decay = ()
    if isinstance(no_decay, str):
        no_decay = (no_decay,)
    if not isinstance(no_decay, Sequence) or not all(isinstance(k, str) for k in no_decay):
        raise TypeError(f"no_decay must be a sequence of parameter names, got {no_decay!r}")
    seen: set[int] = set()
    quant: dict[tuple[QuantSet, int | None, int | None], dict[str, Any]] = {}
    for mname, mod in model.named_modules():
        qset = mod.__dict__.get("qopt_qset")
        if qset is None:
            continue
        w = getattr(mod, "weight", None)
        if not isinstance(w, nn.Parameter):
            raise ValueError(f"model: module {mname!r} is marked for quantization but has no "
                             f"weight Parameter")
        if id(w) in seen:
            continue
        seen.add(id(w))
        ax = mod.__dict__.get("qopt_axis")
        gs = mod.__dict__.get("qopt_group_size")
        grp = quant.setdefault((qset, ax, gs), {"params": [], "qset": qset, "axis": ax,
                                                "names": [],
                                                **({"group_size": gs} if gs is not None else {})})
        grp["params"].append(w)
        grp["names"].append(f"{mname}.weight" if mname else "weight")
    floats: dict[str, Any] = {"params": [], "names": []}
    nodecay: dict[str, Any] = {"params": [], "names": [], "weight_decay": 0.0}
    for pname, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        grp = nodecay if pname.rsplit(".", 1)[-1] in no_decay else floats
        grp["params"].append(p)
        grp["names"].append(pname)
    out = [{**base_group_kwargs, **g} for g in quant.values()]
    out.append({**base_group_kwargs, **floats})
    out.append({**base_group_kwargs, **nodecay})
    return [g for g in out if len(g["params"]) > 0]

