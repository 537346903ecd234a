"""SinGAN, faithful to the reference (tamarott/SinGAN): train a pyramid, deblur with G_0.

Modules: :mod:`~deblur.singan.config` (settings), :mod:`~deblur.singan.pyramid` (scales),
:mod:`~deblur.singan.models` (G and D), :mod:`~deblur.singan.train` (training loop),
:mod:`~deblur.singan.step` (the training iterations),
:mod:`~deblur.singan.generate` (coarse-to-fine chain, deblurring),
:mod:`~deblur.singan.checkpoint` (model directories), :mod:`~deblur.singan.device`.
"""
