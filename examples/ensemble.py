"""An ensemble of two recipes: cross-validate both, soft-vote them, and compare the ways to combine them honestly.

What it shows: `kit.predict` over several run folders, and its four ways to combine them — the plain soft vote,
weights fitted on the OOF rows (`auto_weights=True`), Caruana's greedy selection (`select=True`) and a stacked
logistic regression (`stack=True`). A choice made on the OOF rows flatters itself when it is scored on the same rows,
so kit scores each one honestly too: cross-fitted (chosen on one half of the rows, scored on the other) or out of
fold (the stack). The table printed at the end puts those honest OOF scores beside the accuracy of each submission on
the demo data's held-out test answers (`kit.score`).

The members are two shipped recipes of different shapes: `demo` (a small plain CNN) and `turbo` (a narrow batch-norm
network on a one-cycle schedule with label smoothing). Settings are tiny (2 folds × 2 epochs each) so that it runs in
about 30 s on a 2-core CPU (a minute when its cores are busy); with so few epochs the scores are far below the
recipes' (≈ 0.98–0.99), and which way wins depends on the settings.

Run it with

    python examples/ensemble.py [OUT]

Everything it writes goes under OUT (else `$KIT_EXAMPLE_OUT`, else a new temporary folder).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import kit

out = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("KIT_EXAMPLE_OUT") or tempfile.mkdtemp("-kit"))

# Each way to combine the runs, as the keyword arguments of `kit.predict` that ask for it.
METHODS = {
    "soft vote": {},
    "auto weights": {"auto_weights": True},
    "selection": {"select": True},
    "stack": {"stack": True},
}


def honest(scores: dict) -> tuple[str, tuple[float, float]]:
    """The honest entry of a prediction's OOF score table: its cross-fitted or out-of-fold score where the method
    chose something on the OOF rows, else the plain one (a soft vote with equal weights fits nothing)."""
    for key, value in scores.items():
        if "cross-fitted" in key or "out of fold" in key:
            return key, value
    return "equal", scores["equal"]


def main() -> None:
    started = time.monotonic()
    data = kit.demo_data(out / "data")

    # ## Two cross-validated runs
    #
    # Both recipes split the rows with the same seed, so their folds coincide: the stack's meta-model is then
    # cross-fitted on exactly the folds the members were trained on.
    runs = [
        kit.cv("demo", data, folds=2, epochs=2, out=out / "runs" / "demo", force=True),
        # turbo trains in batches of 150: batches of 32 give its one-cycle schedule enough steps in 2 epochs
        kit.cv(
            "turbo", data, folds=2, epochs=2, out=out / "runs" / "turbo", force=True, overrides={"train.batch_size": 32}
        ),
    ]
    for run in runs:
        print(
            f"{run.recipe_name}: OOF accuracy {run.oof_accuracy:.4f}, log loss {run.oof_loss:.4f}, "
            f"{run.train_seconds:.0f} s of training"
        )

    # ## One submission per way to combine them
    #
    # Each `kit.predict` writes `NAME.csv` (and `NAME.json`, `NAME.npy`) and returns the ensemble with its score
    # table: `prediction.ensemble.scores` maps a method ("equal", "auto, in-sample", "auto, cross-fitted", …) to
    # (OOF accuracy, OOF log loss). The members are scored alone the same way, as one-run "ensembles".
    submissions = out / "submissions"
    predictions = {}
    for run in runs:
        predictions[run.recipe_name] = kit.predict([run.path], name=run.recipe_name, out_dir=submissions, force=True)
    for method, how in METHODS.items():
        name = method.replace(" ", "-")
        predictions[method] = kit.predict([run.path for run in runs], name=name, out_dir=submissions, force=True, **how)

    # ## The table
    #
    # "chose": what the way chose on the OOF rows (a selection's weights are how often it picked each run);
    # OOF columns: its honest score; test accuracy: its submission scored on the held-out `solution.csv`.
    print()
    print(f"{'method':<14} {'chose':<20} {'scored as':<24} {'OOF acc':>8} {'OOF loss':>9} {'test acc':>9}")
    for method, prediction in predictions.items():
        weights = prediction.sidecar["weights"]
        if len(prediction.ensemble.members) == 1:
            chose = "alone"
        elif weights is None:
            chose = "meta-model"
        else:
            chose = "weights " + " / ".join(f"{weight:.2f}" for weight in weights)
        key, (accuracy, loss) = honest(prediction.ensemble.scores)
        key = "its OOF rows" if chose == "alone" else key
        test = kit.score(prediction.path, data_dir=data).score
        print(f"{method:<14} {chose:<20} {key:<24} {accuracy:>8.4f} {loss:>9.4f} {test:>9.4f}")
    fitted = predictions["auto weights"].ensemble.scores
    print()
    print(
        f"auto weights scored on the rows they were fit on: {fitted['auto, in-sample'][0]:.4f}, "
        f"cross-fitted: {fitted['auto, cross-fitted'][0]:.4f}"
    )
    print(f"done in {time.monotonic() - started:.0f} s; submissions under {submissions}")


if __name__ == "__main__":
    try:
        main()
    except kit.KitError as error:  # every user-facing problem is one line
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug: still one line, naming the exception
        sys.exit(f"error: {type(error).__name__}: {error}")
