"""The evaluation side: from deblurred images to numbers and text.

- :mod:`~deblur.evaluation.settings`: the settings and the names all tables share (light).
- :mod:`~deblur.evaluation.metrics`: PSNR/SSIM and the model and full resolutions.
- :mod:`~deblur.evaluation.aligned`: the shift-tolerant PSNR/SSIM.
- :mod:`~deblur.evaluation.kernel_metrics`: kernel error and error ratio (true kernel known).
- :mod:`~deblur.evaluation.scoring`: one output's metrics rows from Python
  (:func:`~deblur.evaluation.scoring.metrics_rows`, what ``evaluate`` writes).
- :mod:`~deblur.evaluation.tables`: the metrics table's schema, parquet I/O, loading many files.
- :mod:`~deblur.evaluation.statistics`: bootstrap summaries and paired differences.
- :mod:`~deblur.evaluation.cost`: compute cost from Snakemake benchmarks and ``model.json``.
- :mod:`~deblur.evaluation.formatting`: how numbers print in every Markdown table.
- :mod:`~deblur.evaluation.paper_table`: ``paper_table.md``.
- :mod:`~deblur.evaluation.study`, :mod:`~deblur.evaluation.study_text`: the ablation tables and
  ``ablation.md``.
- :mod:`~deblur.evaluation.ladder`: the pyramid-size ladder's methods and per-cell table.

Modules import downwards only (settings <- metrics <- aligned <- scoring; settings <- tables <-
statistics <- study <- study_text), with no cycle; none imports a method (SinGAN, SelfDeblur,
the baselines), the figures (:mod:`deblur.figures`), the commands or Snakemake
(``tests/test_import_graph.py`` checks this).
"""
