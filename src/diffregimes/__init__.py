"""diffregimes: dynamical regimes (noise, speciation, collapse) of coupled diffusion models.

Layers (each imports only the ones above it):
``theory`` (NumPy) -> ``sde`` (torch) -> ``data``/``nets``/``diffusion`` -> ``protocols``
-> ``experiments`` -> ``report``/``cli``.
"""

__version__ = "0.1.0"
