"""A Digit Recognizer submission from Python: data → cross-validation → submission → local score.

What it shows: the whole loop of `make demo` as four library calls, with nothing but `import kit`:

1. `kit.demo_data` writes the embedded real handwritten digits as a Digit Recognizer folder
   (`train.csv`, `test.csv`, `sample_submission.csv`, and the test answers apart in `solution.csv`);
2. `kit.cv` cross-validates the `demo` recipe on it and returns a `kit.CVResult`;
3. `kit.predict` soft-votes the fold models into a checked `submission.csv`;
4. `kit.score` scores that submission on the held-out answers, as a local leaderboard.

Settings are tiny (2 folds × 2 epochs) so that it runs in about 20 s on a 2-core CPU; drop `folds=` and `epochs=` to
train the recipe as written (5 folds × 15 epochs, ≈ 0.98 OOF accuracy, about a minute).

Run it with

    python examples/digit_recognizer_submission.py [OUT]

Everything it writes goes under OUT (else `$KIT_EXAMPLE_OUT`, else a new temporary folder).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import kit

# ## Where the files go
#
# One folder holds the data, the run folder and the submission, so the example leaves nothing in the current folder.

out = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KIT_EXAMPLE_OUT") or tempfile.mkdtemp("-kit"))


def main() -> None:
    started = time.monotonic()

    # ## The data
    #
    # 1,500 labelled training digits and 297 test digits, 28×28 grey pixels in Digit Recognizer's CSV layout. With
    # the real competition you would `kit.fetch()` instead and point `data` at `data/digit-recognizer`.
    data = kit.demo_data(out / "data")
    print(f"data: {data}")

    # ## Cross-validation
    #
    # `kit.cv` takes a recipe by name (a shipped one here), a path to a .toml file or a `kit.Recipe`. Keyword
    # arguments override the recipe and are recorded in the run folder; `kit.ProgressBar()` shows progress on stderr.
    run = kit.cv(
        "demo",
        data,
        folds=2,
        epochs=2,
        out=out / "runs" / "demo",
        force=True,
        callbacks=[kit.ProgressBar()],
    )
    print(f"recipe {run.recipe_name}, overrides {run.overrides}, {run.train_seconds:.0f} s of training")
    for fold in run.folds:
        print(f"  fold {fold.fold}: val accuracy {fold.val_accuracy:.4f} after {fold.epochs} epochs")
    print(f"OOF accuracy {run.oof_accuracy:.4f} on {run.oof.shape[0]} training rows")

    # ## The submission
    #
    # `kit.predict` takes run folders (one here; several make a soft-voted ensemble), writes `NAME.csv` checked
    # against `sample_submission.csv`, and `NAME.json` beside it with the provenance and the OOF scores.
    prediction = kit.predict([run.path], name="demo", out_dir=out / "submissions", force=True)
    print(f"submission: {prediction.path} ({prediction.sidecar['rows']} rows)")

    # ## The local leaderboard
    #
    # The demo data keep the test answers in `solution.csv`, so the submission can be scored as Kaggle would.
    score = kit.score(prediction.path, data_dir=data)
    print(f"test {score.metric} {score.score:.4f} on {score.rows} rows")
    worst = min(score.per_class, key=lambda item: item.accuracy)
    print(f"hardest class: {worst.value} ({worst.accuracy:.2%} of {worst.count})")
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
