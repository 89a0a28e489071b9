"""What `kit fetch` checks of an image-file competition: its images listed and matched with their CSVs as `kit cv`
does (not decoded), and the sample submission's ids against the test images."""

from __future__ import annotations

from pathlib import Path

from kit.competitions import Competition
from kit.errors import KitError


def check_image_files(folder: Path, competition: Competition) -> dict[str, int]:
    """The images of an image-file competition listed and checked as ``kit cv`` does (not decoded), by folder."""
    from kit.data import test_files, train_files
    from kit.submission import read_submission

    train, test = train_files(folder, competition), test_files(folder, competition)
    rows = {competition.images.train: len(train.paths)}
    if test is not None:
        rows[competition.images.test] = len(test.paths)
    sample = folder / competition.sample_submission_file
    if sample.is_file():
        frame = read_submission(sample, competition, check_labels=False)
        rows[competition.sample_submission_file] = len(frame)
        given = {str(value) for value in frame[competition.submission_columns[0]]}
        found = set() if test is None else {str(value) for value in test.ids}
        if test is not None and given != found:
            odd = sorted(given ^ found)[0]
            where = "the test images" if odd in given else sample.name
            raise KitError(f"{sample}: id {odd} is not among {where}; the sample submission must list the test images")
    return rows
