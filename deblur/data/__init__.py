"""Data layer: image I/O, GoPro trees and pair sampling, the embedded synthetic dataset.

- :mod:`deblur.data.imageio`: ``read_rgb`` (float RGB in [0, 1]) and ``write_png`` (atomic).
- :mod:`deblur.data.pairs`: the ``Pair`` and ``Sample`` records and the naming rules.
- :mod:`deblur.data.gopro`: ``index_pairs`` of a GOPRO_Large (or flattened) tree.
- :mod:`deblur.data.sampling`: ``sample_pairs``, ``assign_references``, the ``pairs.tsv`` sheet.
- :mod:`deblur.data.synthetic`: ``plan_pairs`` and ``synthesize`` for the embedded dataset.
"""
