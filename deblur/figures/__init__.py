"""Figures from the evaluation tables (seaborn, Agg backend, PNG written atomically).

- :mod:`~deblur.figures.settings`: the figures' options (:class:`PlotSettings`) and axis labels
  (light: no matplotlib).
- :mod:`~deblur.figures.style`: the shared theme, colours, seeded jitter, atomic saving.
- :mod:`~deblur.figures.methods`: per-method box plots, PSNR vs SSIM, examples, paired.
- :mod:`~deblur.figures.study`: the ablation study's figures.
- :mod:`~deblur.figures.ladder`: the pyramid-size ladder's figure.
- :mod:`~deblur.figures.write`: every figure of a run, from its tables (``plot`` command).

Figures import the evaluation package, never the other way round.
"""
