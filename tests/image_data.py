"""Small generated image-file competitions, one per layout kit must handle: the library's demo images
(:mod:`kit.data._demoimages`, ``kit demo-data --layout``) with 120 training and 30 test images each.

``build(layout, folder).spec`` is the spec a careful user would write by hand (a TOML table); ``kit init`` must infer
it (but for the metric, which the competition's page states).
"""

from __future__ import annotations

from pathlib import Path

from kit.data._demoimages import BREEDS, DISEASES, LAYOUTS, SPECIES, WHALES, DemoImages, demo_images

TRAIN, TEST = 120, 30
Built = DemoImages
__all__ = ["BREEDS", "DISEASES", "LAYOUTS", "SPECIES", "TEST", "TRAIN", "WHALES", "Built", "build", "write_spec"]


def build(layout: str, folder: Path, seed: int = 0) -> Built:
    """Write the ``layout`` competition into ``folder`` (created) and return what its spec must say."""
    return demo_images(folder, layout, TRAIN, TEST, seed)


def write_spec(built: Built) -> Path:
    """Write ``built.spec`` as the folder's ``competition.toml`` (the hand-written spec)."""
    import tomli_w

    path = built.folder / "competition.toml"
    path.write_bytes(tomli_w.dumps(built.spec).encode())
    return path
