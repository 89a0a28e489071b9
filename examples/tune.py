"""Hyperparameter search with KerasTuner, then cross-validation of the recipe it writes.

What it shows: `kit.tune` searches the `[tune]` table of a recipe — for the shipped `demo` recipe, the second block's
dropout, the dense layer's units and a log-sampled learning rate — scoring each trial on a stratified hold-out of the
training rows. It returns a `kit.TuneResult` (the trials best first, the best values) and writes the winner as a
recipe file, `demo-tuned.toml`, that `extends` `demo` with the best values; `kit.cv` takes that file's path like any
recipe.

Settings are tiny (2 trials of 1 epoch, then 2 folds × 2 epochs) so that it runs in about 20 s on a 2-core CPU; with
so few epochs the search mostly shows the mechanics (`make tune-demo` runs 4 full-length trials).

Run it with

    python examples/tune.py [OUT]

Everything it writes goes under OUT (else `$KIT_EXAMPLE_OUT`, else a new temporary folder): the data, the KerasTuner
project (which makes a rerun resume the search; `restart=True` starts it afresh), the tuned recipe and the run.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import kit

out = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KIT_EXAMPLE_OUT") or tempfile.mkdtemp("-kit"))


def shown(values: dict) -> str:
    """Trial values by dotted recipe key, floats to 3 significant digits."""
    return ", ".join(
        f"{key} = {value:.3g}" if isinstance(value, float) else f"{key} = {value}" for key, value in values.items()
    )


class TrialPrinter(kit.Callback):
    """Progress through the same callbacks as `kit.cv`: a line per finished trial."""

    def on_trial_end(self, trial):
        score = "failed" if trial.score is None else f"hold-out accuracy {trial.score:.4f}"
        print(f"  trial {trial.trial_id}: {score} with {shown(trial.values)}")


def main() -> None:
    started = time.monotonic()
    data = kit.demo_data(out / "data")

    # ## The search
    #
    # `max_trials` and `epochs` cut the search short; `recipes_dir` says where the tuned recipe goes (default
    # `recipes/`, where `kit cv demo-tuned` finds it by name) and `out` where the KerasTuner project lives.
    print("search:")
    search = kit.tune(
        "demo",
        data,
        tuner="random",
        max_trials=2,
        epochs=1,
        out=out / "tune" / "demo",
        recipes_dir=out / "recipes",
        restart=True,
        force=True,
        callbacks=[TrialPrinter()],
    )
    print(f"{len(search.trials)} {search.tuner} trials on {search.train_rows} rows, {search.epochs} epoch each")
    print(f"best: hold-out accuracy {search.best.score:.4f} with {shown(search.best_values)}")
    print(f"tuned recipe: {search.tuned_path}")
    print(search.tuned_path.read_text().split("\n\n", 1)[1].strip())  # the file without its header comments

    # ## Cross-validation of the tuned recipe
    #
    # The tuned file is a recipe like any other: by path here, by name once it sits in `recipes/`.
    run = kit.cv(search.tuned_path, data, folds=2, epochs=2, out=out / "runs" / "demo-tuned", force=True)
    print(f"{run.recipe_name}: OOF accuracy {run.oof_accuracy:.4f} over {len(run.folds)} folds")
    print(f"done in {time.monotonic() - started:.0f} s; files under {out}")


if __name__ == "__main__":
    try:
        main()
    except kit.KitError as error:  # every user-facing problem is one line
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug: still one line, naming the exception
        sys.exit(f"error: {type(error).__name__}: {error}")
