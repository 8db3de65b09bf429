"""diffregimes: dynamical regimes (noise, speciation, collapse) of coupled diffusion models.

The names in ``__all__`` are the supported top-level surface; they load on first use, so
``import diffregimes`` stays instant and imports neither NumPy nor torch.

Theory (NumPy/SciPy, float64): :class:`CoupledOU` (the model: relaxation matrix, noise, data law),
:class:`CouplingSchedule` (g(t)), :func:`kappa` (28), :func:`speciation_time` (30),
:func:`collapse_time` (73/86), :func:`conditional_collapse_time` (87), :func:`stability` (59-60),
:func:`anisotropic_phase_grid` (Fig. 4 in one pass).

Exact-score sampling (torch): :class:`MixtureSpec`, :class:`MomentTable`, :class:`PopulationScore`,
:class:`EmpiricalScore`, :func:`euler_maruyama`, :func:`heun_ode`, :func:`reverse_times`.

Experiments: :func:`produce` (one experiment into ``out/<name>/``), :func:`reproduce` (all of them and
the report), :func:`experiment_names`; :func:`make_executor` (serial, process or Ray) for either.

Layers (each imports only the ones before it): ``theory`` (NumPy) -> ``sde`` (torch) ->
``data``/``nets``/``diffusion`` -> ``protocols`` -> ``experiments`` -> ``report`` -> ``execution.driver``/``cli``;
``runstore`` (the run directories), ``atomic`` and the work units and executors of ``execution`` sit below
all of them. Every subpackage is
importable as an attribute (``diffregimes.theory``) as well.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_WHERE = {
    "CoupledOU": ("theory", "CoupledOU"),
    "CouplingSchedule": ("theory", "CouplingSchedule"),
    "kappa": ("theory", "kappa"),
    "speciation_time": ("theory", "speciation_time"),
    "collapse_time": ("theory", "collapse_time"),
    "conditional_collapse_time": ("theory", "conditional_collapse_time"),
    "stability": ("theory", "stability"),
    "anisotropic_phase_grid": ("theory", "anisotropic_phase_grid"),
    "MixtureSpec": ("sde", "MixtureSpec"),
    "MomentTable": ("sde", "MomentTable"),
    "PopulationScore": ("sde", "PopulationScore"),
    "EmpiricalScore": ("sde", "EmpiricalScore"),
    "euler_maruyama": ("sde", "euler_maruyama"),
    "heun_ode": ("sde", "heun_ode"),
    "reverse_times": ("sde", "reverse_times"),
    "produce": ("execution.driver", "produce"),
    "reproduce": ("execution.driver", "reproduce"),
    "make_executor": ("execution.executors", "make_executor"),
    "experiment_names": ("experiments.registry", "names"),
}
_SUBPACKAGES = (
    "theory",
    "sde",
    "data",
    "nets",
    "diffusion",
    "protocols",
    "experiments",
    "report",
    "execution",
    "runstore",
    "progress",
    "cli",
)

__all__ = ["__version__", *_WHERE]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module, attr = _WHERE[name]
        return getattr(import_module(f".{module}", __name__), attr)
    if name in _SUBPACKAGES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE, *_SUBPACKAGES})
