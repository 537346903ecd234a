"""PSNR/SSIM of one output -> parquet. (Not implemented yet.)"""

from deblur.errors import DeblurError

HELP = "PSNR/SSIM of one output -> parquet"


def add_arguments(parser):
    pass


def run(args):
    raise DeblurError("'evaluate' is not implemented yet")
