"""Aggregation statistics, benchmark cost parsing and the paper table."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from deblur.errors import DeblurError
from deblur.evaluation.cost import COST_DTYPES, read_benchmarks
from deblur.evaluation.paper_table import paper_table, rounding_interval, verdict
from deblur.evaluation.settings import ReportSettings
from deblur.evaluation.statistics import (
    bootstrap_ci,
    bootstrap_interval,
    paired_differences,
    summarize,
    wilcoxon_p,
)
from deblur.evaluation.tables import load_metrics, metrics_frame, write_parquet

SETTINGS = ReportSettings(n_boot=2000)


def fake_metrics(means, n=12, seed=0, resolutions=("model", "full")):
    """Metrics rows: method -> (psnr mean, ssim mean), per-pair noise shared across methods."""
    rng = np.random.default_rng(seed)
    pair_effect = rng.normal(0, 1.0, n)
    rows = []
    for method, (p, s) in means.items():
        for res in resolutions:
            for i in range(n):
                rows.append(
                    dict(
                        pair_id=f"SEQ-{i:06d}",
                        sequence="SEQ",
                        frame=f"{i:06d}",
                        method=method,
                        kind="singan" if method == "singan" else method,
                        resolution=res,
                        psnr=p + pair_effect[i] + rng.normal(0, 0.3),
                        ssim=s + 0.02 * pair_effect[i] + rng.normal(0, 0.005),
                        deblur_steps=1 if method == "singan" else None,
                        config_hash=f"h{i % 2}" if method == "singan" else None,
                        dataset="fake",
                    )
                )
    return metrics_frame(rows)


def test_bootstrap_interval_keeps_columns_paired_and_offers_bca():
    x = np.random.default_rng(2).normal(20, 2, 30)
    settings = ReportSettings(n_boot=2000)
    low, high = bootstrap_interval(np.stack([x, x + 1.0], axis=1), settings)
    # one set of resampling indices for both columns: the second interval is the first + 1
    assert low[1] - low[0] == pytest.approx(1.0) and high[1] - high[0] == pytest.approx(1.0)
    bca = bootstrap_ci(x, n_boot=2000, method="BCa")
    assert bca[0] < x.mean() < bca[1] and bca != bootstrap_ci(x, n_boot=2000)
    with pytest.raises(ValueError, match="ci_method"):
        ReportSettings(ci_method="bca")


def test_bootstrap_ci_contains_the_mean_and_is_seeded():
    x = np.random.default_rng(1).normal(20, 2, 50)
    low, high = bootstrap_ci(x, n_boot=4000, seed=0)
    assert low < x.mean() < high
    # roughly mean +- 1.96 sd / sqrt(n)
    assert high - low == pytest.approx(2 * 1.96 * x.std(ddof=1) / np.sqrt(50), rel=0.15)
    assert bootstrap_ci(x, n_boot=4000, seed=0) == (low, high)
    assert bootstrap_ci(x, n_boot=4000, seed=1) != (low, high)
    assert all(np.isnan(bootstrap_ci([3.0], n_boot=100)))  # one pair: no interval
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])


def test_summary_statistics_and_settings_columns():
    metrics = fake_metrics({"singan": (15.0, 0.5), "identity": (25.0, 0.8)})
    summary = summarize(metrics, SETTINGS)
    assert list(summary["resolution"]) == ["model", "model", "full", "full"]
    assert list(summary["method"]) == ["identity", "singan", "identity", "singan"]
    for row in summary.itertuples():
        g = metrics[(metrics["method"] == row.method) & (metrics["resolution"] == row.resolution)]
        assert row.n == len(g) == 12
        assert row.psnr_mean == pytest.approx(g["psnr"].mean())
        assert row.ssim_std == pytest.approx(g["ssim"].std(ddof=1))
        assert row.psnr_ci_low < row.psnr_mean < row.psnr_ci_high
        assert row.ssim_ci_low < row.ssim_mean < row.ssim_ci_high
    singan = summary[summary["method"] == "singan"].iloc[0]
    assert singan["deblur_steps"] == 1 and singan["kind"] == "singan"
    assert pd.isna(singan["config_hash"]) and "config_hash" in singan["settings_varying"]
    assert summary["dataset"].eq("fake").all()  # a constant extra column is kept
    assert summary.equals(summarize(metrics, SETTINGS))  # deterministic


def test_paired_differences_sign_ci_and_wilcoxon():
    metrics = fake_metrics({"better": (27.0, 0.85), "worse": (20.0, 0.6), "identity": (25.0, 0.8)})
    # drop two baseline pairs: they are left out of the paired test
    metrics = metrics[
        ~((metrics["method"] == "identity") & metrics["pair_id"].isin(["SEQ-000000", "SEQ-000001"]))
    ]
    paired = paired_differences(metrics, SETTINGS).set_index(["method", "resolution"])
    assert "identity" not in paired.index.get_level_values(0)
    better, worse = paired.loc[("better", "model")], paired.loc[("worse", "model")]
    assert better["n_pairs"] == worse["n_pairs"] == 10
    assert better["psnr_diff_mean"] == pytest.approx(2.0, abs=0.5)
    assert 0 < better["psnr_diff_ci_low"] < better["psnr_diff_mean"] < better["psnr_diff_ci_high"]
    assert better["psnr_n_better"] == 10 and better["psnr_wilcoxon_p"] < 0.01
    assert worse["psnr_diff_ci_high"] < 0 and worse["ssim_diff_mean"] < 0
    assert worse["ssim_n_worse"] == 10
    assert np.isnan(wilcoxon_p(np.zeros(5)))
    assert paired_differences(metrics[metrics["method"] != "identity"], SETTINGS).empty


BENCHMARK_TSV = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "71.2000\t0:01:11\t812.40\t2215.51\t790.02\t795.33\t12.50\t0.40\t97.50\t69.41\n"
    "68.8000\t0:01:08\t820.00\t2215.51\t790.02\t795.33\t12.50\t0.40\t96.00\t66.59\n"
)
BENCHMARK_NA = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "0.4100\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n"
)


def test_cost_tables_from_real_format_benchmarks(tmp_path, caplog):
    bench = tmp_path / "benchmarks"
    (bench / "train_singan" / "cfg1").mkdir(parents=True)
    (bench / "train_singan" / "cfg1" / "SEQ-000001.tsv").write_text(BENCHMARK_TSV)
    (bench / "evaluate" / "singan").mkdir(parents=True)
    (bench / "evaluate" / "singan" / "SEQ-000001.tsv").write_text(BENCHMARK_NA)
    (bench / "evaluate" / "singan" / "broken.tsv").write_text("")
    with caplog.at_level(logging.WARNING):
        cost, by_rule = read_benchmarks(bench)
    assert "broken.tsv" in caplog.text
    assert list(cost.columns) == list(COST_DTYPES)
    train = cost[cost["rule"] == "train_singan"].iloc[0]
    assert train["job"] == "cfg1/SEQ-000001" and train["repeats"] == 2
    assert train["seconds"] == pytest.approx(70.0)  # mean over repeats
    assert train["max_rss_mb"] == pytest.approx(820.0)  # max over repeats
    assert train["cpu_seconds"] == pytest.approx(68.0)
    ev = cost[cost["rule"] == "evaluate"].iloc[0]
    assert ev["seconds"] == pytest.approx(0.41) and np.isnan(ev["max_rss_mb"])
    r = by_rule.set_index("rule")
    assert r.loc["train_singan", "jobs"] == 1 and r.loc["evaluate", "total_seconds"] == 0.41
    with caplog.at_level(logging.WARNING):
        empty, empty_by_rule = read_benchmarks(tmp_path / "absent")
    assert empty.empty and list(empty.columns) == list(COST_DTYPES) and empty_by_rule.empty
    assert "absent" in caplog.text


def model_record(**overrides) -> dict:
    """A model.json as training writes it (the keys its reader requires)."""
    info = dict(config={}, config_hash="c0ffee", seed=0, device="cpu", torch_version="2.13.0",
                train_seconds=1.0, num_scales=1, sizes=[[24, 32]], scale_factor=0.75)  # fmt: skip
    return info | overrides


def test_cost_counts_the_given_jobs_and_the_whole_training(tmp_path, caplog):
    bench = tmp_path / "benchmarks"
    jobs = {"cfg1/A-000001": 20.0, "cfg1/B-000001": 8.0}  # job -> model.json train_seconds
    resumed = "s\th:m:s\tmax_rss\tcpu_time\n3.3000\t0:00:03\t500.00\t3.10\n"
    files = []
    for job, seconds in jobs.items():
        for rule, tsv in (("train_singan", resumed), ("evaluate", BENCHMARK_NA)):
            path = bench / rule / f"{job}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(tsv)
            files.append(path)
        model = tmp_path / "models" / job / "model.json"
        model.parent.mkdir(parents=True)
        model.write_text(json.dumps(model_record(train_seconds=seconds)))
    other = bench / "train_singan" / "cfg2" / "A-000001.tsv"  # another run's settings
    other.parent.mkdir(parents=True)
    other.write_text(BENCHMARK_TSV)
    models = sorted((tmp_path / "models").rglob("model.json"))

    cost, by_rule = read_benchmarks(files, bench, models)
    assert sorted(cost["path"]) == sorted(
        f"{r}/{j}" for r in ("evaluate", "train_singan") for j in jobs
    )
    train = cost[cost["rule"] == "train_singan"].set_index("job")
    assert train["seconds"].tolist() == pytest.approx([3.3, 3.3])  # the resumed process only
    assert train["train_seconds"].to_dict() == pytest.approx(jobs)
    assert cost.loc[cost["rule"] == "evaluate", "train_seconds"].isna().all()
    r = by_rule.set_index("rule")
    assert r.loc["train_singan", "jobs"] == 2
    assert r.loc["train_singan", "train_total_seconds"] == pytest.approx(28.0)
    assert r.loc["train_singan", "train_mean_seconds"] == pytest.approx(14.0)
    assert np.isnan(r.loc["evaluate", "train_total_seconds"])
    close = fake_metrics({"singan": (15.3, 0.52), "identity": (25.0, 0.8)})
    text = paper_table(
        summarize(close, SETTINGS), paired_differences(close, SETTINGS), by_rule, SETTINGS
    )
    assert "| train_singan | 2 | 28.0 | 14.0 | 20.0 | 500 | training |" in text
    assert "| evaluate | 2 | 0.8 | 0.4 | 0.4 | n/a | benchmark |" in text
    assert "training: sum of model.json train_seconds (whole training, across resumes)" in text

    # the whole folder counts the other run too; a model without a job is reported
    cost, by_rule = read_benchmarks(bench, models=models[:1])
    assert by_rule.set_index("rule").loc["train_singan", "jobs"] == 3
    with caplog.at_level(logging.WARNING):
        read_benchmarks(files[:1], bench, models)
    assert "matches no benchmarked job" in caplog.text


def test_verdict_logic_both_ways_and_rounding():
    assert rounding_interval(0.52) == pytest.approx((0.515, 0.525))
    assert rounding_interval(15.3) == pytest.approx((15.25, 15.35))
    assert verdict(15.3, 14.0, 16.0) == "inside"
    assert verdict(15.3, 15.34, 16.0) == "inside"  # 15.3 may stand for 15.34
    assert verdict(15.3, 16.0, 18.0) == "below"
    assert verdict(15.3, 12.0, 15.2) == "above"
    assert verdict(0.52, 0.524, 0.6) == "inside"
    assert verdict(0.52, 0.53, 0.6) == "below"


def test_paper_table_reports_consistency_and_absence():
    empty = pd.DataFrame(columns=["rule"])
    close = fake_metrics({"singan": (15.3, 0.52), "identity": (25.0, 0.8)})
    text = paper_table(
        summarize(close, SETTINGS), paired_differences(close, SETTINGS), empty, SETTINGS
    )
    assert text.index("## Resolution `model` (primary)") < text.index("## Resolution `full`")
    assert "| reported (paper) | - | ~100 | 0.52 | 15.3 |" in text
    assert "| reproduced (SinGAN G_0) | `singan` | 12 |" in text
    assert text.count("**consistent with the paper**") == 4  # 2 metrics x 2 resolutions
    assert "data_range=1" in text and "10000" not in text and "2000 resamples" in text
    assert "above the reported value" in text  # the blurry input scores higher than the paper

    far = fake_metrics({"singan": (22.0, 0.7)}, resolutions=("model",))
    text = paper_table(
        summarize(far, SETTINGS),
        paired_differences(far, SETTINGS),
        empty,
        ReportSettings(n_boot=2000, resolution="full"),
    )
    assert text.index("## Resolution `full` (primary)") < text.index("## Resolution `model`")
    assert "is below the reproduced 95% CI" in text and "**not reproduced**" in text
    assert "| blurry input (identity) | `identity` | 0 | absent | absent |" in text
    assert "cannot judge: method `singan` has no rows at this resolution" in text
    assert "No paired data" in text and "No benchmark files found" in text


def test_load_metrics_checks_inputs(tmp_path):
    with pytest.raises(DeblurError, match=r"no metrics files .* found in .*empty"):
        (tmp_path / "empty").mkdir()
        load_metrics([tmp_path / "empty"])
    with pytest.raises(DeblurError, match="metrics path not found"):
        load_metrics([tmp_path / "nope"])
    m = fake_metrics({"singan": (15.0, 0.5)}, n=3)
    write_parquet(m, tmp_path / "m" / "a.parquet")
    write_parquet(m.iloc[:1], tmp_path / "m" / "b.parquet")
    with pytest.raises(DeblurError, match="duplicate metrics for method 'singan'"):
        load_metrics([tmp_path / "m"])
    (tmp_path / "m" / "b.parquet").unlink()
    write_parquet(m.assign(method=None), tmp_path / "m2" / "c.parquet")
    with pytest.raises(DeblurError, match="rows without method"):
        load_metrics([tmp_path / "m2"])
    # the output directory is never read back, hidden temporaries are skipped
    write_parquet(m, tmp_path / "m" / "tables" / "metrics.parquet")
    (tmp_path / "m" / ".x.parquet.tmp.parquet").write_bytes(b"partial")
    loaded = load_metrics([tmp_path / "m"], exclude=tmp_path / "m" / "tables")
    assert len(loaded) == len(m)


def test_paper_table_shows_the_closest_other_reading_beside_the_papers_setting():
    empty = pd.DataFrame(columns=["rule"])
    means = {
        "singan": (28.0, 0.88),
        "identity": (27.5, 0.89),
        "singan_sr4": (21.0, 0.50),
        "singan_sample": (15.4, 0.55),
    }
    metrics = fake_metrics(means)
    metrics.loc[metrics["method"].str.startswith("singan"), "kind"] = "singan"
    text = paper_table(
        summarize(metrics, SETTINGS), paired_differences(metrics, SETTINGS), empty, SETTINGS
    )
    assert "| reproduced (SinGAN G_0) | `singan` | 12 |" in text  # still the paper's setting
    assert text.count("| closest other SinGAN reading | `singan_sample` | 12 |") == 2
    assert "| other | `singan_sample` |" not in text and "| other | `singan_sr4` |" in text
    assert text.count("**not reproduced**") == 4  # the verdicts stay the paper's setting's


def test_a_batch_training_job_costs_the_sum_of_its_members(tmp_path, caplog):
    # train.batch 2: one job, named by its first member, trained A and B (each model.json holds
    # its share of the batch's time); C is a batch of one
    bench, members = tmp_path / "benchmarks", {"A-000001": 6.0, "B-000001": 5.0, "C-000001": 4.0}
    batches = (("A-000001", "B-000001"), ("C-000001",))
    for batch in batches:
        for ref in batch:
            model = tmp_path / "results" / "models" / "cfg1" / ref / "model.json"
            model.parent.mkdir(parents=True)
            record = dict(size=len(batch), models=[f"results/models/cfg1/{r}" for r in batch])
            model.write_text(json.dumps(model_record(train_seconds=members[ref], batch=record)))
        path = bench / "train_singan_batch" / "cfg1" / f"{batch[0]}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(BENCHMARK_TSV)
    models = sorted((tmp_path / "results" / "models").rglob("model.json"))
    with caplog.at_level(logging.WARNING):
        cost, by_rule = read_benchmarks(bench, None, models)
    assert "matches no benchmarked job" not in caplog.text
    train = cost.set_index("job")["train_seconds"].to_dict()
    assert train == pytest.approx({"cfg1/A-000001": 11.0, "cfg1/C-000001": 4.0})
    r = by_rule.set_index("rule")
    assert r.loc["train_singan_batch", "train_total_seconds"] == pytest.approx(15.0)
