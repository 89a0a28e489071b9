"""Everything `make bench` needs, out of the library's way: the race of a recipe against the seed notebook's
pipeline (``_race``, ``_notebook``, ``_measure``), full-size runs (``_fullsize``), the image-file phase
(``_images``), the backbone phase (``_backbones``), the result and its targets (``_result``), the plot (``_plot``)
and ``kit.bench`` itself (``_bench``); the figures of ``kit auto`` (``_autobench``) and what each of its candidate
members pays (``_portfoliobench``)."""

import lazy_loader

# The face: names resolve to their private module on first use (SPEC 1), so importing a package is cheap.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_autobench": ["AUTO_BENCH_FILE", "Figure", "RankAgreement", "auto_bench", "rank_agreement"],
        "_backbones": ["BackboneBench", "run_backbone_bench", "save_backbone_bench"],
        "_bench": ["run_bench", "verdict"],
        "_fullsize": ["FULL_TRAIN_ROWS", "process_tree", "tree_memory_mib", "write_full_size_data"],
        "_images": ["ImageBench", "run_image_bench", "save_image_bench"],
        "_measure": [
            "Contender",
            "ENSEMBLE_TARGET",
            "INFERENCE_ROWS",
            "SeedRun",
            "bench_data",
            "fold_data",
            "median_curve",
            "over_seeds",
            "pooled",
            "steady_throughput",
        ],
        "_portfoliobench": ["MemberGain", "PORTFOLIO_BENCH_FILE", "member_gains"],
        "_result": ["BENCH_FILE", "BenchResult"],
    },
)
