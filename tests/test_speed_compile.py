"""``compile=True``: the critic loss is compiled anew for each scale, with static shapes.

Reused across scales, one compiled function would collect a cache entry per scale and, past
Dynamo's recompile limit, silently run eagerly. A counting backend (instead of inductor, which
would take minutes here) sees every compilation: with the limit lowered to 2, a pyramid of 3
or more scales must still compile at every scale, the same graphs each time, none with
symbolic sizes.
"""

import numpy as np
import pytest
import torch
import torch._dynamo.config
from PIL import Image

from deblur.singan import fast as fast_module
from deblur.singan.checkpoint import read_model_json
from deblur.singan.train import train

TINY = dict(min_size=12, max_size=20, nfc=4, max_nfc=8, nfc_double_every=2, niter=2)


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "img.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((24, 30, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_critic_loss_is_compiled_once_per_scale_with_static_shapes(png, tmp_path, monkeypatch):
    graphs = []

    def counting(gm, example_inputs):
        sizes = [tuple(x.shape) for x in example_inputs if isinstance(x, torch.Tensor)]
        symbolic = [x for x in example_inputs if isinstance(x, torch.SymInt)]
        graphs.append((sizes, symbolic))
        return gm.forward

    monkeypatch.setattr(fast_module, "COMPILE_BACKEND", counting)
    # torch's own patch: pytest's monkeypatch restores dynamo's config by delattr, which hides
    # the setting from every later test in the process
    with torch._dynamo.config.patch(recompile_limit=2):
        out = train(
            png, tmp_path / "m", TINY, device="cpu", threads=1, progress=False, compile=True
        )
    meta = read_model_json(out)
    scales = meta["num_scales"]
    assert scales > 2 and meta["compile"] is True  # more scales than the limit
    assert len(graphs) % scales == 0 and len(graphs) >= scales
    per_scale = len(graphs) // scales
    for s, (h, w) in enumerate(meta["sizes"]):
        group = graphs[s * per_scale : (s + 1) * per_scale]
        assert all(not symbolic for _, symbolic in group)
        assert any((1, 3, h, w) in sizes for sizes, _ in group), (s, group)
