"""Read, validate and write competition spec files (TOML), failing with one line that names the file and the key.

The schema (every table and key optional; defaults are digit-recognizer's)::

    name = "Kannada-MNIST"          # default: the file name, or the data folder's for competition.toml
    metric = "accuracy"             # accuracy | log_loss | macro_f1
    classes = 10                    # a count (values 0…K-1), or the values as they appear: [0, 2, 3] or ["cat", "dog"]
    [files]   train, test, sample_submission, solution = "solution.csv", extra = ["Dig-MNIST.csv"],
              test_labels = true (the test file carries labels: answers for scoring, not input)
    [columns] label = "label", id = "id" (else ids are row numbers from first_id), first_id = 1,
              submission = ["id", "label"], ignore = ["Usage"]
    [image]   height = 28, width = 28, channels = 1, order = "hwc" (or "chw": all of one channel, then the next)
    [pixels]  one of: prefix = "pixel" | pattern = "{row}x{col}" | columns = [...] | string = "pixels" | rest = true;
              start = 0 (first index of prefix/pattern numbers)

Image-file competitions have an ``[images]`` table instead of ``[pixels]`` (checked in
:mod:`kit.competitions._imagespec`)::

    task = "single"                 # single | binary | multilabel | ordinal
    [images]  layout = "folders" | "csv" | "filename", train = "train", test = "test",
              pattern = "{id}.png" (csv: CSV columns as fields) | "{label}.{n}.jpg" (filename),
              test_ids = "name" | "stem", resize = "squash" | "pad"
    [columns] labels = ["healthy", "rust"] (multi-label 0/1 columns), separator = " ", group = "patient_id"
    [submission] kind = "label" | "probability" | "probabilities" | "top_k", k = 5
"""

from __future__ import annotations

from pathlib import Path
from string import Formatter
from typing import Any

from kit.competitions._imagespec import image_content, image_fields, image_models
from kit.competitions._spec import BESIDE_DATA, SLUG_RULE, Competition, PixelLayout, is_slug, outside_folder
from kit.errors import KitError
from kit.utils import dotted_key, read_toml

PLACEHOLDERS = ("{i}", "{row}", "{col}", "{channel}")
PLACEHOLDER_NAMES = ("i", "row", "col", "channel")
MAX_FIRST_ID = 2**53 - 1  # ids stay exact as int64 and as float64 (pandas reads a column with a gap as floats)
MAX_DEPTH = 16  # tables and lists inside each other: a spec needs 2, Python's recursion gives out near 1,000


def _models() -> Any:
    """The pydantic schema, built on first use so importing kit does not import pydantic."""
    from typing import Annotated, Literal

    from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    Name = Annotated[StrictStr, Field(min_length=1)]
    Images, Submission, Task, MetricName = image_models(Strict, Name)

    class Files(Strict):
        train: Name = "train.csv"
        test: Name = "test.csv"
        sample_submission: Name = "sample_submission.csv"
        solution: Name = "solution.csv"
        extra: list[Name] = Field(default_factory=list)
        test_labels: StrictBool = False

    class Columns(Strict):
        label: Name = "label"
        id: Name | None = None
        first_id: Annotated[StrictInt, Field(ge=0, le=MAX_FIRST_ID)] = 1
        submission: Annotated[list[Name], Field(min_length=2, max_length=100_001)] = Field(
            default_factory=lambda: ["ImageId", "Label"]
        )
        ignore: list[Name] = Field(default_factory=list)
        labels: Annotated[list[Name], Field(min_length=2)] | None = None
        separator: Annotated[StrictStr, Field(min_length=1, max_length=8)] = " "
        group: Name | None = None

    class Image(Strict):
        height: Annotated[StrictInt, Field(ge=1, le=4096)] = 28
        width: Annotated[StrictInt, Field(ge=1, le=4096)] = 28
        channels: Annotated[StrictInt, Field(ge=1, le=4)] = 1
        order: Literal["hwc", "chw"] = "hwc"

    class Pixels(Strict):
        prefix: StrictStr | None = None
        pattern: StrictStr | None = None
        columns: Annotated[list[Name], Field(min_length=1)] | None = None
        string: Name | None = None
        rest: StrictBool = False
        start: Annotated[StrictInt, Field(ge=0)] = 0

    class Spec(Strict):
        name: Name | None = None
        description: StrictStr = ""
        metric: MetricName = "accuracy"  # type: ignore[valid-type]
        task: Task = "single"  # type: ignore[valid-type]
        classes: (
            Annotated[StrictInt, Field(ge=2, le=100_000)]
            | Annotated[list[StrictInt], Field(min_length=2)]
            | Annotated[list[Name], Field(min_length=2)]
        ) = 10
        files: Files = Files()
        columns: Columns = Columns()
        image: Image = Image()
        pixels: Pixels = Pixels()
        images: Images | None = None  # type: ignore[valid-type]
        submission: Submission = Submission()  # type: ignore[valid-type]

    return Spec


def _problem(error: Any) -> str:
    """The first pydantic error as ``key a.b: message``."""
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    if loc and loc[0] == "classes":
        return "key classes: expected a count (at least 2) or a list of the label values, all integers or all strings"
    if loc == ["columns", "first_id"] and first["type"] != "int_type":
        return f"key columns.first_id: must be a row number from 0 to 2**53 - 1, got {first['input']!r}"
    key = dotted_key(part for part in loc if not part.isdigit())
    message = {"extra_forbidden": "unknown key", "missing": "missing"}.get(first["type"], first["msg"])
    if first["type"] == "value_error":  # a validator's own wording, without pydantic's "Value error, "
        message = str(first["ctx"]["error"])
    return f"key {key}: {message}"


def parse_spec(content: dict[str, Any], source: str, default_name: str) -> Competition:
    """Validate a spec table into a :class:`Competition`; ``source`` names the file in errors."""
    from pydantic import ValidationError

    _check_depth(content, source)
    try:
        spec = _models().model_validate(content)
    except ValidationError as error:
        raise KitError(f"{source}: {_problem(error)}") from None
    image, pixels, columns, files = spec.image, spec.pixels, spec.columns, spec.files
    _check_names(spec, source)
    shape = (image.height, image.width, image.channels)
    layout = _layout(pixels, shape, source)
    classes = tuple(range(spec.classes)) if isinstance(spec.classes, int) else tuple(spec.classes)
    if len(set(classes)) != len(classes):
        repeated = next(value for value in classes if classes.count(value) > 1)
        raise KitError(f"{source}: key classes: {repeated!r} is listed twice")
    named = [columns.label, *([columns.id] if columns.id else []), *columns.ignore]
    if len(set(named)) != len(named):
        raise KitError(f"{source}: key columns: label, id and ignore name the same column twice")
    listed = layout.names(shape, image.order) or []
    clash = sorted(set(listed) & set(named))
    if clash:
        raise KitError(f"{source}: key pixels: column {clash[0]!r} is also the label, id or an ignored column")
    if len(set(listed)) != len(listed):
        raise KitError(f"{source}: key pixels: the pixel column names repeat; give each pixel its own name")
    if spec.metric == "log_loss" and len(classes) < 2:
        raise KitError(f"{source}: key metric: log_loss needs at least two classes")
    if spec.images is not None and "pixels" in content:
        raise KitError(f"{source}: key pixels: an image-file competition ([images]) has no pixel columns; remove it")
    if spec.images is None and "submission" in columns.model_fields_set and len(columns.submission) != 2:
        raise KitError(f"{source}: key columns.submission: a pixel-CSV competition submits 2 columns, id and label")
    return Competition(
        name=spec.name or default_name,
        image_shape=shape,
        label_column=columns.label,
        pixel_layout=layout,
        channel_order=image.order,
        test_id_column=columns.id,
        first_id=columns.first_id,
        train_file=files.train,
        test_file=files.test,
        sample_submission_file=files.sample_submission,
        solution_file=files.solution,
        extra_files=tuple(files.extra),
        test_labels=files.test_labels,
        ignore_columns=tuple(columns.ignore),
        metric=spec.metric,
        description=spec.description,
        source=source,
        **image_fields(spec, classes, source),
    )


def _check_names(spec: Any, source: str) -> None:
    """The name must be a slug (it becomes ``data/NAME``); every file must lie inside the data folder."""
    if spec.name is not None and not is_slug(spec.name):
        raise KitError(f"{source}: key name: {spec.name!r} is not {SLUG_RULE}")
    files = spec.files
    named = [(key, getattr(files, key)) for key in ("train", "test", "sample_submission", "solution")]
    for key, name in [*named, *((f"extra[{index}]", name) for index, name in enumerate(files.extra))]:
        if outside_folder(name):
            raise KitError(
                f"{source}: key files.{key}: {name!r} is outside the data folder; name a file inside it "
                "(a relative path without '..')"
            )


def _layout(pixels: Any, shape: tuple[int, int, int], source: str) -> PixelLayout:
    """The one pixel layout a ``[pixels]`` table chooses, checked against the image shape."""
    chosen = [key for key in ("prefix", "pattern", "columns", "string") if getattr(pixels, key) is not None]
    chosen += ["rest"] if pixels.rest else []
    if len(chosen) > 1:
        raise KitError(
            f"{source}: key pixels: choose one of prefix, pattern, columns, string, rest (got {', '.join(chosen)})"
        )
    kind = chosen[0] if chosen else "prefix"
    count = shape[0] * shape[1] * shape[2]
    if kind == "columns" and len(pixels.columns) != count:
        raise KitError(
            f"{source}: key pixels.columns: {len(pixels.columns)} columns do not fit image "
            f"{shape[0]}×{shape[1]}×{shape[2]} = {count} pixels; set image.height, image.width, image.channels"
        )
    if kind == "pattern":
        found = _pattern_fields(pixels.pattern, source)
        if "i" not in found and not {"row", "col"} <= found:
            raise KitError(f"{source}: key pixels.pattern: {pixels.pattern!r} needs {{i}} or both {{row}} and {{col}}")
        if shape[2] > 1 and not found & {"i", "channel"}:
            raise KitError(f"{source}: key pixels.pattern: {shape[2]} channels need {{channel}} (or {{i}}) in it")
    return PixelLayout(
        kind=kind,
        prefix=pixels.prefix if pixels.prefix is not None else "pixel",
        pattern=pixels.pattern or "",
        start=pixels.start,
        columns=tuple(pixels.columns or ()),
        string=pixels.string or "",
    )


def _pattern_fields(pattern: str, source: str) -> set[str]:
    """The placeholders a pixel name pattern uses; each field must be a plain ``{i}``, ``{row}``, ``{col}`` or
    ``{channel}`` (no ``{i.attr}``, ``{i[0]}``, ``{i!r}`` or ``{i:>999999}``), checked before it is ever formatted."""
    where = f"{source}: key pixels.pattern: {pattern!r}"
    try:
        fields = [(name, spec, convert) for _, name, spec, convert in Formatter().parse(pattern) if name is not None]
    except ValueError as error:
        raise KitError(f"{where} is not a name pattern ({error})") from None
    for name, spec, conversion in fields:
        if name not in PLACEHOLDER_NAMES or spec or conversion:
            field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise KitError(f"{where} has field {field}; use only {', '.join(PLACEHOLDERS)} (and '{{{{' for a brace)")
    return {name for name, _, _ in fields}


def _check_depth(content: Any, source: str) -> None:
    """One line when tables or lists nest more than :data:`MAX_DEPTH` deep: validating (and reporting) such a value
    would recurse past Python's limit. The walk itself does not recurse."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(content, ())]
    while stack:
        item, path = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if len(path) > MAX_DEPTH:
            key = dotted_key(part if part.isprintable() else repr(part) for part in path[:3])
            raise KitError(f"{source}: key {key}…: nested more than {MAX_DEPTH} tables or lists deep")
        children = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend((child, (*path, str(name)[:40])) for name, child in children)


def load_spec(path: Path | str) -> Competition:
    """Read and validate one spec file."""
    path = Path(path)
    if not path.is_file():
        raise KitError(f"competition spec {path}: file not found")
    content = read_toml(path)
    default = path.parent.resolve().name if path.name == BESIDE_DATA else path.stem
    competition = parse_spec(content, str(path), default)
    if path.name != BESIDE_DATA and competition.name != path.stem:
        raise KitError(f"{path}: key name: {competition.name!r} differs from the file name; make them the same")
    return competition


def spec_content(competition: Competition) -> dict[str, Any]:
    """The TOML table of a spec (the inverse of :func:`parse_spec`), without keys left at their defaults."""
    layout = competition.pixel_layout
    pixels: dict[str, Any] = {
        "prefix": {"prefix": layout.prefix},
        "pattern": {"pattern": layout.pattern},
        "columns": {"columns": list(layout.columns)},
        "string": {"string": layout.string},
        "rest": {"rest": True},
    }[layout.kind]
    if layout.start and layout.kind in ("prefix", "pattern"):
        pixels["start"] = layout.start
    values = competition.class_values
    columns: dict[str, Any] = {"label": competition.label_column}
    if competition.test_id_column:
        columns["id"] = competition.test_id_column
    if not competition.test_id_column or competition.first_id != 1:
        columns["first_id"] = competition.first_id
    columns["submission"] = list(competition.submission_columns)
    if competition.ignore_columns:
        columns["ignore"] = list(competition.ignore_columns)
    files = {
        "train": competition.train_file,
        "test": competition.test_file,
        "sample_submission": competition.sample_submission_file,
    }
    if competition.solution_file != "solution.csv":
        files["solution"] = competition.solution_file
    if competition.extra_files:
        files["extra"] = list(competition.extra_files)
    if competition.test_labels:
        files["test_labels"] = True
    height, width, channels = competition.image_shape
    image: dict[str, Any] = {"height": height, "width": width, "channels": channels}
    if competition.channel_order != "hwc":
        image["order"] = competition.channel_order
    content: dict[str, Any] = {"name": competition.name}
    if competition.description:
        content["description"] = competition.description
    content["metric"] = competition.metric
    content["classes"] = len(values) if values == tuple(range(len(values))) else list(values)
    content.update(files=files, columns=columns, image=image, pixels=pixels)
    return image_content(competition, content)


def spec_toml(competition: Competition, header: str = "") -> str:
    """The spec as TOML text (kit's one writer), with ``header`` lines as comments on top."""
    from kit.utils import toml_comments, toml_dumps

    return toml_comments(header.splitlines()) + toml_dumps(spec_content(competition))
