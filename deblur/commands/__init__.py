"""One module per CLI command; see :mod:`deblur.cli`."""
