"""Declarative specs of pixel-CSV image competitions (file layout, columns, classes)."""

from __future__ import annotations

from dataclasses import dataclass

from kit.errors import KitError


@dataclass(frozen=True)
class Competition:
    """How one pixel-CSV competition lays out its files.

    ``test_id_column`` is the id column of ``test.csv`` (None when ids are implicit row numbers
    starting at ``first_id``); the submission carries ``submission_columns = (id, label)``.
    """

    name: str
    image_shape: tuple[int, int, int] = (28, 28, 1)
    classes: int = 10
    label_column: str = "label"
    pixel_prefix: str = "pixel"
    test_id_column: str | None = None
    first_id: int = 1
    submission_columns: tuple[str, str] = ("ImageId", "Label")
    train_file: str = "train.csv"
    test_file: str = "test.csv"
    sample_submission_file: str = "sample_submission.csv"

    @property
    def pixels(self) -> int:
        height, width, channels = self.image_shape
        return height * width * channels

    @property
    def pixel_columns(self) -> list[str]:
        return [f"{self.pixel_prefix}{i}" for i in range(self.pixels)]

    @property
    def train_columns(self) -> list[str]:
        return [self.label_column, *self.pixel_columns]

    @property
    def test_columns(self) -> list[str]:
        ids = [self.test_id_column] if self.test_id_column else []
        return [*ids, *self.pixel_columns]


COMPETITIONS: dict[str, Competition] = {
    competition.name: competition
    for competition in (
        Competition("digit-recognizer"),
        Competition(
            "Kannada-MNIST",
            test_id_column="id",
            first_id=0,
            submission_columns=("id", "label"),
        ),
    )
}

DEFAULT_COMPETITION = "digit-recognizer"


def get_competition(name: str) -> Competition:
    """Return the spec named ``name`` or fail with the list of known ones."""
    try:
        return COMPETITIONS[name]
    except KeyError:
        known = ", ".join(sorted(COMPETITIONS))
        raise KitError(f"unknown competition {name!r}: use one of {known}") from None
