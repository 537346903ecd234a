"""singan-deblur-bench: SinGAN blind motion deblurring, reproduced and measured."""

__version__ = "0.1.0"
