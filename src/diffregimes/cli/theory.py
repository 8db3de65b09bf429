"""The ``diffregimes theory speciation|collapse|manifold`` commands: one value of the theory, instantly.

This module owns the theory commands' flags (the coupled-OU model flags and each quantity's own), the
translation of those flags into a :class:`~diffregimes.theory.CoupledOU` or a manifold data model, the guard
that turns float64 overflow into a one-line :class:`~diffregimes.errors.ValidationError` naming the values
given, and the printing of the result as one line or as JSON. The theory itself is imported inside the
command functions, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..errors import ValidationError
from .args import _finite, _int_at_least

# ----------------------------------------------------------------------------- commands
#: the data flags of one coupling and their defaults: the other coupling refuses them (one line), rather
#: than ignoring a value the user typed
COUPLING_FLAGS = {
    "symmetric": {"m_plus2": 2.0, "m_minus2": 0.0},
    "anisotropic": {"mx2": 1.0, "my2": 1.0, "theta": 0.0},
}


def _coupling_flags(args: argparse.Namespace) -> None:
    """Refuse the other coupling's data flags; fill in this coupling's defaults."""
    other = "anisotropic" if args.coupling == "symmetric" else "symmetric"
    given = [k for k in COUPLING_FLAGS[other] if getattr(args, k, None) is not None]
    if given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ValidationError(f"{names} apply to --coupling {other} only: coupling={args.coupling}")
    for key, default in COUPLING_FLAGS[args.coupling].items():
        if getattr(args, key, None) is None:
            setattr(args, key, default)


def _model_from_args(args: argparse.Namespace):
    from ..theory import CoupledOU

    _coupling_flags(args)
    if args.coupling == "symmetric":
        if args.sigma_x2 is not None or args.sigma_y2 is not None:
            if args.sigma_x2 != args.sigma_y2:
                raise ValidationError(
                    "the symmetric case needs equal variances: use --sigma2 "
                    f"(got --sigma-x2={args.sigma_x2}, --sigma-y2={args.sigma_y2})"
                )
        sigma2 = args.sigma2 if args.sigma_x2 is None else args.sigma_x2
        return CoupledOU.symmetric(args.beta, args.g, args.sigma_w2, sigma2, args.m_plus2, args.m_minus2)
    sx2 = args.sigma_x2 if args.sigma_x2 is not None else args.sigma2
    sy2 = args.sigma_y2 if args.sigma_y2 is not None else args.sigma2
    return CoupledOU.anisotropic(args.beta, args.g, args.sigma_w2, sx2, sy2, args.mx2, args.my2, args.theta)


def cmd_speciation(args: argparse.Namespace) -> dict[str, Any]:
    """`diffregimes theory speciation`: t_S (30), kappa(0), stability margins (59) as a dict."""
    from ..theory import kappa0, single_mode_speciation_time, speciation_time, stability, symmetric_eigenvalues

    model = _model_from_args(args)
    t_s = speciation_time(model, args.convention, args.d, T=args.T)
    stab = stability(model, T=args.T)
    out: dict[str, Any] = {
        "coupling": args.coupling,
        "convention": args.convention,
        "t_s": None if t_s is None else (t_s if math.isfinite(t_s) else "beyond T"),
        "kappa0": kappa0(model, args.convention, args.d),
        "stable": stab.stable,
        "stability_margins": dict(zip(stab.modes, stab.margins)),
    }
    if args.coupling == "symmetric":
        factor = 1.0 if args.convention == "per-dim" else float(args.d)
        sigma2 = float(model.sigma0[0, 0])
        for key, lam, m2 in zip(
            ("t_s_plus", "t_s_minus"), symmetric_eigenvalues(args.beta, args.g), (args.m_plus2, args.m_minus2)
        ):
            t_mode = single_mode_speciation_time(lam, factor * m2, sigma2, args.sigma_w2)
            # the same horizon as t_s: a crossing after T is "beyond T" for both, never a number beside "none"
            out[key] = "beyond T" if t_mode is not None and t_mode > args.T else t_mode
        out["sufficient_bound_60"] = stab.sufficient
    return out


def _alpha(args: argparse.Namespace) -> float:
    if args.n is not None:
        if args.alpha is not None:
            raise ValidationError(f"give --alpha or --n with --d, not both: alpha={args.alpha:g}, n={args.n}")
        if args.d is None:
            raise ValidationError("--n needs --d to form alpha = log(n) / (2 d) (33)")
        return math.log(args.n) / (2 * args.d)  # --n >= 2 and --d >= 1 are checked by the parser
    return 1.0 if args.alpha is None else args.alpha


def cmd_collapse(args: argparse.Namespace) -> dict[str, Any]:
    """`diffregimes theory collapse`: t_C (72/86) and, by coupling, per-mode (78), bound (75) or conditional (87)."""
    from ..theory import (
        collapse_time,
        collapse_upper_bound,
        conditional_collapse_time,
        symmetric_collapse_time,
        symmetric_mode_collapse_times,
    )

    model = _model_from_args(args)
    alpha = _alpha(args)
    out: dict[str, Any] = {"coupling": args.coupling, "alpha": alpha}
    if args.coupling == "symmetric":
        sigma2 = float(model.sigma0[0, 0])
        out["t_c"] = symmetric_collapse_time(args.beta, args.g, sigma2, args.sigma_w2, alpha)
        out["t_c_plus"], out["t_c_minus"] = symmetric_mode_collapse_times(
            args.beta, args.g, sigma2, args.sigma_w2, alpha
        )
        out["t_max"] = collapse_upper_bound(sigma2, args.sigma_w2, alpha)
    else:
        out["t_c"] = collapse_time(model, alpha)
        out["t_c_cond"] = conditional_collapse_time(model, alpha)
    return out


def cmd_manifold(args: argparse.Namespace) -> dict[str, Any]:
    """t_S and t_C of the manifold data model (theory.manifold, docs/manifold.md)."""
    from ..theory.manifold import (
        collapse_times,
        ge_speciation_time,
        latent_dimension,
        leading_speciation_time,
        orthonormal_speciation_time,
        summary_speciation_time,
    )

    if not 0 < args.psi <= 1:
        raise ValidationError(f"--psi must lie in (0, 1]: psi={args.psi:g}")
    if args.alpha <= 0:
        raise ValidationError(f"--alpha must be > 0: alpha={args.alpha:g}")
    if args.m2 < 0:
        raise ValidationError(f"--m2 must be >= 0: m2={args.m2:g}")
    if args.d < 1:
        raise ValidationError(f"--d must be >= 1: d={args.d}")
    if args.psi * args.d < 0.5:
        raise ValidationError(
            f"--psi × --d must be >= 0.5 (the latent dimension p = round(ψ d) is at least 1): "
            f"psi={args.psi:g}, d={args.d}"
        )
    if args.embedding == "orthonormal" and args.activation != "linear":
        raise ValidationError(
            f"--activation {args.activation} needs --embedding random (x = U z is linear): "
            f"activation={args.activation}, valid with orthonormal: linear"
        )
    p = latent_dimension(args.d, args.psi)
    collapse = collapse_times(args.psi, args.alpha, args.activation, args.embedding, args.m2)
    if not (math.isfinite(collapse.t_c) and collapse.t_c > 0):
        raise ValidationError(
            f"no collapse time for these values: psi={args.psi:g}, alpha={args.alpha:g}, m2={args.m2:g}"
        )
    out: dict[str, Any] = {
        "embedding": args.embedding,
        "activation": args.activation,
        "psi": args.psi,
        "alpha": args.alpha,
        "m2": args.m2,
        "d": args.d,
        "p": p,
    }
    if args.m2 == 0:  # no class signal: nothing to speciate on
        out["t_S"] = None
    elif args.embedding == "orthonormal":
        out["t_S"] = _time(orthonormal_speciation_time(p, args.m2))
    else:
        out["t_S"] = _time(ge_speciation_time(args.d, args.psi, args.m2, args.activation)[0])
        out["t_S_leading"] = _time(leading_speciation_time(args.d, args.m2, args.activation))
        out["t_S_summary"] = _time(summary_speciation_time(args.d, args.psi, args.m2, args.activation))
    if out["t_S"] is None:
        out["t_S_note"] = "no speciation at t > 0: the class signal is too weak for the criterion to cross 1"
    out["t_C"] = float(collapse.t_c)
    out["t_C_method"] = str(collapse.method)
    return out


MODEL_FLAGS = (
    "beta",
    "g",
    "sigma_w2",
    "sigma2",
    "sigma_x2",
    "sigma_y2",
    "m_plus2",
    "m_minus2",
    "mx2",
    "my2",
    "theta",
    "d",
    "T",
    "alpha",
    "n",
)


def _time(value: float | None) -> float | None:
    """A speciation time, or None where the criterion never crosses 1 at t > 0 (a negative or non-finite root
    is not a time of the forward process)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


MANIFOLD_FLAGS = ("psi", "alpha", "m2", "d", "embedding", "activation")


def _guarded(command, flags: tuple[str, ...] | None = None):
    """Run a theory command with float64 overflow and invalid operations raised, not warned.

    Inputs far outside the model's scales (e.g. --g 1e300) would otherwise print RuntimeWarnings and
    then a meaningless number; here they are refused in one line naming the values given.
    (Underflow stays silent: e^{-2 beta t} -> 0 is the expected relaxation.)
    """
    import numpy as np

    def run(args: argparse.Namespace) -> dict[str, Any]:
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                return command(args)
        except (FloatingPointError, OverflowError, ZeroDivisionError):
            given = ", ".join(
                f"{k}={getattr(args, k)}" for k in (flags or MODEL_FLAGS) if getattr(args, k, None) is not None
            )
            raise ValidationError(
                f"these values overflow double precision (about 1e308): {given}; use scales closer to 1"
            ) from None

    return run


def _print_theory(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    fmt = lambda v: f"{v:.6g}" if isinstance(v, float) else ("none" if v is None else str(v))  # noqa: E731
    print(
        ", ".join(
            f"{k} = {fmt(v) if not isinstance(v, dict) else '{' + ', '.join(f'{a}: {fmt(b)}' for a, b in v.items()) + '}'}"
            for k, v in result.items()
        )
    )


# ----------------------------------------------------------------------------- parser
def _add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--coupling",
        choices=("symmetric", "anisotropic"),
        default="symmetric",
        help="relaxation matrix: symmetric (2) or lower-triangular anisotropic (3)",
    )
    p.add_argument("--beta", type=_finite, default=1.0, help="relaxation rate beta (default 1)")
    p.add_argument("--g", type=_finite, default=0.0, help="coupling strength g (default 0)")
    p.add_argument("--sigma-w2", type=_finite, default=2.0, help="noise variance sigma_W^2 (default 2)")
    p.add_argument("--sigma2", type=_finite, default=1.0, help="data variance sigma^2 of both modalities (default 1)")
    p.add_argument("--sigma-x2", type=_finite, default=None, help="data variance of X (anisotropic)")
    p.add_argument("--sigma-y2", type=_finite, default=None, help="data variance of Y (anisotropic)")
    p.add_argument(
        "--m-plus2", type=_finite, default=None, help="symmetric: per-dim common-mode norm m_+^2 (default 2)"
    )
    p.add_argument(
        "--m-minus2", type=_finite, default=None, help="symmetric: per-dim difference-mode norm m_-^2 (default 0)"
    )
    p.add_argument("--mx2", type=_finite, default=None, help="anisotropic: per-dim norm m_x^2 (default 1)")
    p.add_argument("--my2", type=_finite, default=None, help="anisotropic: per-dim norm m_y^2 (default 1)")
    p.add_argument(
        "--theta", type=_finite, default=None, help="anisotropic: angle between the means, radians (default 0)"
    )
    p.add_argument(
        "--d",
        type=_int_at_least(1, 10**12),
        default=None,
        help="dimension d >= 1 (needed by --convention total and --n)",
    )
    p.add_argument("--T", type=_finite, default=10.0, help="time horizon searched for t_S (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON instead of one line")


def add_theory_parser(sub: argparse._SubParsersAction) -> None:
    """The ``theory`` subcommand and its quantities, added to the top-level subparsers ``sub``."""
    theory = sub.add_parser(
        "theory",
        help="one value of the coupled-OU theory",
        description="Evaluate the coupled Ornstein-Uhlenbeck theory at one parameter point (closed forms and "
        "exact moments; no simulation, instant). Choose the quantity with a subcommand; each has its "
        "own --help with the model flags.",
        epilog="examples:\n"
        "  diffregimes theory speciation --g 0.45 --m-plus2 2 --m-minus2 0\n"
        "  diffregimes theory collapse --coupling anisotropic --g 1 --n 60000 --d 392 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tsub = theory.add_subparsers(
        dest="quantity", required=True, title="quantities", metavar="{speciation,collapse,manifold}"
    )
    spec = tsub.add_parser(
        "speciation",
        help="speciation time t_S (30) (none if kappa never reaches 1, (83)), "
        "kappa(0) (64), stability margins (59); symmetric: per-mode t_S+- (66, corrected)",
    )
    _add_model_flags(spec)
    spec.add_argument(
        "--convention",
        choices=("per-dim", "total"),
        default="per-dim",
        help="kappa per dimension (the paper's (62)) or total (d * per-dim; needs --d)",
    )
    spec.set_defaults(func=lambda a: _print_theory(_guarded(cmd_speciation)(a), a.json))
    col = tsub.add_parser(
        "collapse",
        help="collapse time t_C (72/86); symmetric: per-mode t_C+- (78) and the "
        "bound t_max (75); anisotropic: conditional t_C (87)",
    )
    _add_model_flags(col)
    col.add_argument("--alpha", type=_finite, default=None, help="alpha = log(n) / (2d) (33) (default 1)")
    col.add_argument(
        "--n", type=_int_at_least(2), default=None, help="number of training points n >= 2 (with --d, sets alpha)"
    )
    col.set_defaults(func=lambda a: _print_theory(_guarded(cmd_collapse)(a), a.json))

    man = tsub.add_parser("manifold", help="speciation and collapse times t_S, t_C of the manifold data model")
    man.add_argument(
        "--embedding",
        choices=("orthonormal", "random"),
        default="random",
        help="x = U z (orthonormal columns) or x = F(W z / sqrt(p)), W i.i.d. N(0, 1) (default random)",
    )
    man.add_argument(
        "--activation",
        choices=("linear", "tanh", "sign"),
        default="linear",
        help="F of the random-feature embedding (default linear)",
    )
    man.add_argument("--psi", type=_finite, required=True, help="psi = p/d in (0, 1]")
    man.add_argument("--alpha", type=_finite, required=True, help="alpha = log(n)/d > 0")
    man.add_argument("--m2", type=_finite, default=1.0, help="per-coordinate latent class mean m^2 (default 1)")
    man.add_argument("--d", type=int, required=True, help="ambient dimension d >= 1 (t_S grows with p = psi d)")
    man.add_argument("--json", action="store_true", help="print JSON instead of one line")
    man.set_defaults(func=lambda a: _print_theory(_guarded(cmd_manifold, MANIFOLD_FLAGS)(a), a.json))
