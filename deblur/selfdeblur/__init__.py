"""SelfDeblur: blind deblurring of one image with two untrained generators (deep priors).

A deep-image-prior encoder-decoder generates the sharp image from fixed noise and a small fully
connected network generates the blur kernel; both are fitted so that the valid convolution of
the image with the kernel reproduces the blurry image. Nothing is trained beforehand: the
networks' structure is the prior. :func:`~deblur.selfdeblur.optimize.selfdeblur` runs it;
:class:`~deblur.selfdeblur.config.SelfDeblurConfig` holds every setting.

Defaults (the reference implementation's, Levin-set script; ``SelfDeblurConfig`` fields):

==================== ================================================================
iterations           5000 Adam steps (the reference's colour script: 2500)
lr_image, lr_kernel  0.01 and 1e-4
milestones, gamma    both rates halve at 2000, 3000, 4000 (colour script: 1600/1900/2200)
mse_iterations       1000: MSE data term first, 1 - SSIM after (colour script: 500)
input_depth          8-channel uniform noise on [0, 0.1) (``input_scale``) of size
                     image + kernel - 1, fixed, plus N(0, 0.001^2) each iteration
                     (``reg_noise_std``)
channels_down/up     128 at each of 5 levels; channels_skip 16; bilinear x2 upsampling,
                     reflection padding, BatchNorm, LeakyReLU 0.2 (``leaky_slope``), sigmoid
                     output
nonlocal_from_level  2: the three deepest levels get a non-local block, as the
                     reference's network does
kernel_input_dim     200-d fixed uniform noise -> ``kernel_hidden`` 1000, ReLU6 -> k*k,
                     softmax (non-negative, sums to one)
ssim_window/sigma    11 px Gaussian window, sigma 1.5, zero-padded (the loss)
kernel_size          None = odd nearest 0.1 x the working image's longer side, >= 3
                     (25 at 250 px; the reference sets 11..75 per image by hand)
max_size             250: the image is first downscaled to this longer side
luminance            True: deblur Y of YCbCr, keep the blurry chroma (colour script)
seed                 0; checkpoint_every 500 iterations
==================== ================================================================
"""

from deblur.selfdeblur.config import SelfDeblurConfig, kernel_size_for

__all__ = ["SelfDeblurConfig", "SelfDeblurResult", "kernel_size_for", "selfdeblur"]


def __getattr__(name):
    # the optimisation (torch) is imported on first use, so the light modules (config, params:
    # the workflow's parse-time checks) do not pull torch in
    if name in ("SelfDeblurResult", "selfdeblur"):
        from deblur.selfdeblur import optimize

        return getattr(optimize, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
