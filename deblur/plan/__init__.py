"""The run's plan: what the workflow does, decided from its configuration before any job runs.

- :mod:`~deblur.plan.build`: :func:`make_plan` and the frozen :class:`Plan` (methods, pairs,
  references, pyramids to train, settings by model key, methods dropped and why).
- :mod:`~deblur.plan.methods`: the method entries checked as their commands will check them.
- :mod:`~deblur.plan.ladder`: the pyramid-size ladder's generated methods and their names.
- :mod:`~deblur.plan.jobs`: what each job is given (paths, inputs, flags, resources), from a
  plan and the names a job's wildcards hold (the workflow's ``get_*`` helpers call these).
- :mod:`~deblur.plan.environment`: the environment the jobs inherit (interpreter, GPU slots).
- :mod:`~deblur.plan.config`: command-line config values typed by the schema.

Light: no torch, no pandas, no Snakemake (Snakemake's parse time imports it).
"""

__all__ = ["Method", "ModelJob", "Plan", "TrainBatch", "group_batches", "make_plan"]


def __getattr__(name):
    # deblur.plan.ladder's names are read by the evaluation side without the builder's imports
    if name in __all__:
        from deblur.plan import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
