"""`kit fetch` of an image competition as Kaggle ships it: a zip of zips of image folders and CSVs, unpacked into the
folder a Kaggler expects, with zip-slip, zip bombs and broken inner zips refused as one line that changes nothing."""

from __future__ import annotations

import contextlib
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

import kit.kaggle._archives as archives
import kit.kaggle.files as files
from kaggle_server import FakeKaggle, point_client
from kit.errors import KitError
from kit.kaggle import Retry, fetch
from kit.utils import Callback

USERNAME, KEY = "kit-tester", "s3cret-key-that-must-never-show-0123"
FAST = Retry(attempts=2, delay=0.001, max_delay=0.002, budget=10, jitter=0)
SLUG = "plant-cactus-redux"  # a competition kit has no spec for
SPACED = "Scentless Mayweed"
UNICODE = "Ährenrispe café"  # written without the UTF-8 flag, as zips made on macOS and Linux hold it


def image(form: str, seed: int) -> bytes:
    """A real 6x5 RGB image file (PNG or JPEG) made with Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", (6, 5), (seed * 40 % 256, 90, 200 - seed)).save(buffer, form)
    return buffer.getvalue()


class RawName(zipfile.ZipInfo):
    """A member written with the name bytes ``raw`` and no UTF-8 flag, as tools that ignore the flag write names."""

    __slots__ = ("raw",)

    def __init__(self, name: str, raw: bytes | None = None, extra: bytes = b"") -> None:
        super().__init__(name, (2024, 1, 2, 3, 4, 6))
        self.raw, self.extra, self.compress_type = raw or name.encode(), extra, zipfile.ZIP_DEFLATED

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.raw, self.flag_bits


def zip_of(members: dict[str, bytes], flagless: tuple[str, ...] = (), links: tuple[str, ...] = ()) -> bytes:
    """A zip of ``members``: those in ``flagless`` with UTF-8 names but no UTF-8 flag, those in ``links`` symlinks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            info = RawName(name) if name in flagless else zipfile.ZipInfo(name, (2024, 1, 2, 3, 4, 6))
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in links:
                info.external_attr = 0o120777 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


PNG, JPEG = {n: image("PNG", n) for n in range(4)}, {n: image("JPEG", n) for n in range(4)}
TRAIN = {  # the files train.zip gives, by path in the fetched folder
    "train/Black-grass/0.png": PNG[0],
    "train/Black-grass/1.png": PNG[1],
    f"train/{SPACED}/2.jpg": JPEG[2],
    f"train/{UNICODE}/3.jpg": JPEG[3],
    "train/masks/m0.png": PNG[3],  # from train/masks.zip inside train.zip, which holds bare files
}
TEST = {"test/0.png": PNG[2], "test/1.jpg": JPEG[1]}  # test.zip holds bare files: they go to test/
LABELS = f"id,label\nBlack-grass/0.png,Black-grass\nBlack-grass/1.png,Black-grass\n{SPACED}/2.jpg,{SPACED}\n".encode()
SAMPLE = b"id,label\n0.png,Black-grass\n1.jpg,Black-grass\n"


def train_zip(**extra: bytes) -> bytes:
    members = {name: content for name, content in TRAIN.items() if not name.startswith("train/masks/")}
    members["train/masks.zip"] = zip_of({"m0.png": TRAIN["train/masks/m0.png"]})
    return zip_of(members | extra, flagless=(f"train/{UNICODE}/3.jpg",))


def competition_files(train: bytes | None = None) -> dict[str, bytes]:
    """What Kaggle lists for the competition (Dogs vs Cats Redux style): two zips of images and two CSVs."""
    test = zip_of({name.removeprefix("test/"): content for name, content in TEST.items()})
    return {"train.zip": train or train_zip(), "test.zip": test, "labels.csv": LABELS, "sample_submission.csv": SAMPLE}


EXPECTED = TRAIN | TEST | {"labels.csv": LABELS, "sample_submission.csv": SAMPLE}


@pytest.fixture
def kaggle(tmp_path, monkeypatch):
    """The fake Kaggle serving the image competition, with the client pointed at it (as in test_kaggle.py); no spec
    is inferred (that is kit.data's job, tested there)."""
    monkeypatch.setattr(files, "infer", lambda folder, name: (None, None, []))
    with serving(SLUG, competition_files(), tmp_path, monkeypatch) as server:
        yield server


@contextlib.contextmanager
def serving(slug: str, served: dict[str, bytes], tmp_path: Path, monkeypatch):
    """The fake Kaggle serving ``served`` as competition ``slug``, the official client pointed at it."""
    with (
        FakeKaggle(slug, served, {}, USERNAME, KEY) as server,
        point_client(server, monkeypatch, tmp_path, USERNAME, KEY),
    ):
        yield server


class Phases(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int | None]] = []

    def on_phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        self.seen.append((name, done, total))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes (the fetch's hidden record aside)."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and path.name != archives.MANIFEST
    }


def leftovers(tmp_path: Path) -> list[str]:
    return [path.name for path in (tmp_path / "data").glob(".*")]


def assert_fetched(folder: Path) -> None:
    assert tree(folder) == EXPECTED  # no zip left, no train/train/, names as written
    assert {path.name for path in (folder / "train").iterdir()} == {"Black-grass", SPACED, UNICODE, "masks"}
    for name in EXPECTED:
        if name.endswith((".png", ".jpg")):
            with Image.open(folder / name) as picture:
                assert picture.size == (6, 5) and picture.format == ("PNG" if name.endswith("png") else "JPEG")


def test_nested_zips_from_the_competition_archive_become_the_expected_folders(kaggle, tmp_path, monkeypatch):
    monkeypatch.setattr(files, "BUNDLE_ABOVE", 1)  # more files than this: one archive of them all, as images come
    phases = Phases()
    fetched = fetch(SLUG, retry=FAST, callbacks=[phases])
    assert_fetched(tmp_path / "data" / SLUG)
    assert kaggle.bundles == [f"competition/{SLUG}"] and kaggle.requests.count("DownloadDataFile") == 0
    tops = {name.split("/")[0] for name in EXPECTED}  # a folder of images is one entry of the listing
    assert {item.name for item in fetched.files} == tops and fetched.downloaded == len(tops)
    assert ("downloading", 1, 1) in phases.seen
    for archive, members in ((f"{SLUG}.zip", 4), ("train.zip", 5), ("test.zip", 2), ("train/masks.zip", 1)):
        steps = [step[1:] for step in phases.seen if step[0] == f"unpacking {archive}"]
        assert steps and steps[-1] == (members, members), archive
    assert leftovers(tmp_path) == []


def test_listed_zips_are_unpacked_in_place_and_not_downloaded_again(kaggle, tmp_path):
    fetch(SLUG, retry=FAST)
    folder = tmp_path / "data" / SLUG
    assert_fetched(folder)
    assert kaggle.requests.count("DownloadDataFile") == 4 and kaggle.bundles == []
    again = fetch(SLUG, retry=FAST)  # train.zip and test.zip are gone but were unpacked: nothing to download
    assert kaggle.requests.count("DownloadDataFile") == 4 and again.downloaded == 0
    for path in sorted((folder / "test").iterdir()):
        path.unlink()
    (folder / "test").rmdir()
    third = fetch(SLUG, retry=FAST)
    assert kaggle.requests.count("DownloadDataFile") == 5
    assert {item.name for item in third.files if item.downloaded} == {"test"}  # the folder of test images
    assert_fetched(folder)
    assert leftovers(tmp_path) == []


def refetch_refused(kaggle, tmp_path: Path, train: bytes, expected: str) -> None:
    """A forced fetch of a bad train.zip over a good fetch fails as the one line ``expected`` and changes nothing."""
    fetch(SLUG, retry=FAST)
    folder = tmp_path / "data" / SLUG
    before = tree(folder)
    kaggle.files["train.zip"] = train
    with pytest.raises(KitError) as failure:
        fetch(SLUG, retry=FAST, force=True)
    assert str(failure.value) == expected and "\n" not in str(failure.value)
    assert tree(folder) == before and leftovers(tmp_path) == []
    assert not list(tmp_path.rglob("evil*"))


@pytest.mark.parametrize(
    ("member", "links", "why"),
    [
        ("../evil.png", (), "a path out of the folder (..)"),
        ("train/../../evil.png", (), "a path out of the folder (..)"),
        ("/tmp/evil.png", (), "an absolute path"),
        ("train/evil.png", ("train/evil.png",), "a symbolic link"),
    ],
)
def test_zip_slip_is_refused_as_one_line_and_changes_nothing(kaggle, tmp_path, member, links, why):
    bad = zip_of({**{name: TRAIN[name] for name in list(TRAIN)[:2]}, member: b"../../outside"}, links=links)
    expected = f"train.zip: refused the zip archive's member {member!r}: {why}; nothing was changed"
    refetch_refused(kaggle, tmp_path, bad, expected)


def test_a_zip_slip_two_zips_deep_is_refused(kaggle, tmp_path):
    bad = train_zip(**{"train/masks.zip": zip_of({"m0.png": PNG[3], "../../evil.png": b"x"})})
    expected = "train/masks.zip: refused the zip archive's member '../../evil.png': a path out of the folder (..); "
    refetch_refused(kaggle, tmp_path, bad, expected + "nothing was changed")


def damaged_late() -> bytes:
    """train.zip, stored, whose last member's bytes are damaged: the first members unpack before the error."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in list(TRAIN)[:3]:
            archive.writestr(name, TRAIN[name])
    content = bytearray(buffer.getvalue())
    last = bytes(content).rindex(TRAIN[list(TRAIN)[2]][:32])
    content[last + 40] ^= 0xFF
    return bytes(content)


@pytest.mark.parametrize(
    ("train", "cause"),
    [(b"PK\x03\x04" + b"\x00garbled" * 20, "File is not a zip file"), (damaged_late(), "Bad CRC-32 for file")],
    ids=["garbage", "damaged-last-member"],
)
def test_a_corrupt_inner_zip_is_one_line_and_leaves_no_half_folder(kaggle, tmp_path, train, cause):
    kaggle.files["train.zip"] = train
    with pytest.raises(KitError) as failure:  # a first fetch: no folder is left behind
        fetch(SLUG, retry=FAST)
    message = str(failure.value)
    assert message.startswith(f"train.zip: the zip in the download is not a valid zip archive ({cause}")
    assert message.endswith("; nothing was changed — fetch again") and "\n" not in message
    assert not (tmp_path / "data" / SLUG).exists() and leftovers(tmp_path) == []
    kaggle.files["train.zip"] = train_zip()
    refetch_refused(kaggle, tmp_path, train, message)


@pytest.mark.parametrize(("limit", "value"), [("MAX_MEMBERS", 4), ("MAX_BYTES", sum(map(len, TRAIN.values())) - 1)])
def test_a_zip_bomb_is_refused_from_its_central_directory(kaggle, tmp_path, monkeypatch, limit, value):
    monkeypatch.setattr(archives, limit, value)
    with pytest.raises(KitError) as failure:
        fetch(SLUG, retry=FAST)
    assert str(failure.value).startswith("train.zip: the zip archive would unpack to 5 members and 0.0 GB, over kit's ")
    assert str(failure.value).endswith("(kit.kaggle._archives.MAX_MEMBERS, MAX_BYTES); nothing was changed")
    assert not (tmp_path / "data" / SLUG).exists() and leftovers(tmp_path) == []


# --- the archives alone ------------------------------------------------------------------------------------------


def test_names_are_kept_as_written_whatever_the_encoding(tmp_path):
    unicode_path = "日本/猫.png".encode()
    field = struct.pack("<BL", 1, zlib.crc32(b"x/cat.png")) + unicode_path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ÉTÉ Folder/ünï.png", b"flagged")  # zipfile flags non-ASCII names as UTF-8
        archive.writestr(RawName("cp437", b"caf\x82/x.png"), b"cp437")  # 0x82 is cp437's é
        archive.writestr(RawName("x/cat.png", extra=struct.pack("<HH", 0x7075, len(field)) + field), b"")
        archive.writestr("__MACOSX/._x.png", b"resource fork")
    (tmp_path / "bundle.zip").write_bytes(buffer.getvalue())
    gave, notes = archives.expand(tmp_path)
    assert sorted(tree(tmp_path)) == ["bundle/café/x.png", "bundle/ÉTÉ Folder/ünï.png", "bundle/日本/猫.png"]
    assert gave == {"bundle.zip": ["bundle"]} and notes == []


@pytest.mark.parametrize(
    ("archive", "members", "expected"),
    [
        ("train.zip", ("train/a/0.png", "train/b/1.png", "__MACOSX/train/._0.png"), ["train/a/0.png", "train/b/1.png"]),
        ("train.zip", ("train_images/0.jpg", "train_images/1.jpg"), ["train_images/0.jpg", "train_images/1.jpg"]),
        ("test.zip", ("0.png", "1.png"), ["test/0.png", "test/1.png"]),
        ("test.zip", ("0.png",), ["test/0.png"]),
        ("images.zip", ("a/0.png", "b.csv"), ["images/a/0.png", "images/b.csv"]),
        ("train.csv.zip", ("train.csv",), ["train.csv"]),
        ("sample_submission.zip", ("sample_submission.csv",), ["sample_submission.csv"]),
    ],
)
def test_an_inner_zip_unpacks_where_a_kaggler_expects(tmp_path, archive, members, expected):
    (tmp_path / archive).write_bytes(zip_of(dict.fromkeys(members, b"x")))
    gave, _ = archives.expand(tmp_path)
    assert sorted(tree(tmp_path)) == expected  # the zip itself is removed
    assert gave == {archive: sorted({name.split("/")[0] for name in expected})}


def test_zips_deeper_than_the_limit_are_left_packed_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_DEPTH", 2)
    (tmp_path / "a.zip").write_bytes(zip_of({"a/b.zip": zip_of({"c.zip": zip_of({"d.txt": b"deep"})})}))
    gave, notes = archives.expand(tmp_path)
    assert sorted(tree(tmp_path)) == ["a/b/c.zip"]
    assert gave == {"a.zip": ["a"]} and notes == ["a/b/c.zip is a zip 3 levels deep and was left packed"]


def test_an_inner_zip_never_overwrites_a_file(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "0.png").write_bytes(b"mine")
    (tmp_path / "train.zip").write_bytes(zip_of({"train/0.png": PNG[0]}))
    with pytest.raises(KitError, match=r"^train\.zip: the zip archive's member 'train/0\.png' would overwrite 0\.png"):
        archives.expand(tmp_path)
    assert (tmp_path / "train" / "0.png").read_bytes() == b"mine"
