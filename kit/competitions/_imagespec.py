"""The spec keys of image-file competitions: ``task``, ``[images]``, ``[submission]`` and the target columns
(``columns.labels``, ``columns.separator``, ``columns.group``), checked with one line naming the file and the key.

:mod:`kit.competitions._specfile` builds its schema with :func:`image_models`, turns a checked spec into
:class:`~kit.competitions.Competition` fields with :func:`image_fields` and writes them back with
:func:`image_content`.
"""

from __future__ import annotations

from string import Formatter
from typing import Any

from kit.competitions._metrics import METRIC_NAMES, get_metric, is_metric_name
from kit.competitions._spec import Competition, ImageFiles, outside_folder
from kit.errors import KitError

MAX_TOP_K = 20
TASKS = ("single", "binary", "multilabel", "ordinal")
KINDS = ("label", "probability", "probabilities", "top_k")


def image_models(strict: Any, name: Any) -> tuple[Any, Any, Any, Any]:
    """The pydantic models of ``[images]`` and ``[submission]``, and the ``task`` and ``metric`` value types."""
    from typing import Annotated, Literal

    from pydantic import AfterValidator, Field, StrictInt, StrictStr

    class Images(strict):
        layout: Literal["folders", "csv", "filename"]
        train: name = "train"
        test: name = "test"
        pattern: StrictStr = ""
        test_ids: Literal["name", "stem"] = "name"
        resize: Literal["squash", "pad"] = "squash"

    class Submission(strict):
        kind: Literal[KINDS] = "label"  # type: ignore[valid-type]
        k: Annotated[StrictInt, Field(ge=1, le=MAX_TOP_K)] = 5

    def known(value: str) -> str:
        if not is_metric_name(value):
            raise ValueError(f"unknown metric {value!r}; one of {', '.join(METRIC_NAMES)} (map_at_K: K from 1 to 20)")
        return value

    return Images, Submission, Literal[TASKS], Annotated[StrictStr, AfterValidator(known)]


def _fields_of(pattern: str, where: str) -> list[str]:
    """The plain ``{name}`` fields of a file pattern (no conversions, formats or attribute access)."""
    try:
        parsed = [(field, spec, conversion) for _, field, spec, conversion in Formatter().parse(pattern)]
    except ValueError as error:
        raise KitError(f"{where} is not a file pattern ({error})") from None
    fields = []
    for field, spec, conversion in parsed:
        if field is None:
            continue
        if not field or field.isdigit() or any(mark in field for mark in ".[]") or spec or conversion:
            raise KitError(f"{where} has field {{{field}}}; use plain names such as {{id}} (and '{{{{' for a brace)")
        fields.append(field)
    return fields


def _check_images(images: Any, columns: Any, source: str) -> str:
    """The ``[images]`` table checked; returns its pattern (the csv layout's default is ``{<id column>}``)."""
    for key in ("train", "test"):
        if outside_folder(getattr(images, key)):
            raise KitError(
                f"{source}: key images.{key}: {getattr(images, key)!r} is outside the data folder; name a folder "
                "inside it (a relative path without '..')"
            )
    where = f"{source}: key images.pattern: {images.pattern!r}"
    if images.layout == "folders":
        if images.pattern:
            raise KitError(f"{where}: the folders layout takes the class from the folder; remove the pattern")
        return ""
    if images.layout == "csv":
        if not images.pattern:
            if columns.id is None:
                raise KitError(f"{source}: key columns.id: the csv layout needs the CSV column naming each image")
            return "{" + columns.id + "}"
        if not _fields_of(images.pattern, where):
            raise KitError(f"{where} names no CSV column; e.g. '{{id}}.png'")
        return images.pattern
    fields = _fields_of(images.pattern, where)
    if "label" not in fields or fields.count("label") > 1:
        raise KitError(f"{where} needs {{label}} once, e.g. '{{label}}.{{n}}.jpg'")
    return images.pattern


def _submission(spec: Any, classes: tuple[Any, ...], source: str) -> tuple[str, ...]:
    """The submission columns, checked against the submission kind (per-class probabilities get one per class)."""
    kind, given = spec.submission.kind, "submission" in spec.columns.model_fields_set
    columns = tuple(spec.columns.submission)
    if kind == "probabilities":
        wanted = 1 + len(classes)
        if given and len(columns) != wanted:
            raise KitError(
                f"{source}: key columns.submission: per-class probabilities need the id and one column per class "
                f"({wanted} in all), got {len(columns)}"
            )
        return columns if given else ("id", *(str(value) for value in classes))
    if len(columns) != 2:
        raise KitError(f"{source}: key columns.submission: a {kind} submission has 2 columns, the id and the {kind}")
    return columns


def _check_task(spec: Any, classes: tuple[Any, ...], source: str) -> None:
    task, kind = spec.task, spec.submission.kind
    if task == "binary" and len(classes) != 2:
        raise KitError(f"{source}: key task: a binary task has 2 classes, got {len(classes)}")
    if kind == "probability" and (len(classes) != 2 or task == "multilabel"):
        raise KitError(f"{source}: key submission.kind: one probability column needs a task of 2 classes")
    if task == "multilabel":
        if spec.images is None or spec.images.layout != "csv":
            raise KitError(f"{source}: key task: multi-label targets come from a labels CSV (images.layout = 'csv')")
        if kind == "top_k":
            raise KitError(f"{source}: key submission.kind: a multi-label task submits labels or probabilities")
    elif spec.columns.labels is not None:
        raise KitError(f"{source}: key columns.labels: one 0/1 column per label is for task = 'multilabel'")
    if spec.columns.group is not None and (spec.images is None or spec.images.layout != "csv"):
        raise KitError(f"{source}: key columns.group: groups come from a labels CSV (images.layout = 'csv')")
    if not get_metric(spec.metric).supports(task):
        raise KitError(f"{source}: key metric: {spec.metric} does not score a {task} task; one for {task} targets")
    if spec.metric.startswith("map_at_") and kind != "top_k":
        raise KitError(f"{source}: key submission.kind: {spec.metric} scores ranked labels; set kind = 'top_k'")


def image_fields(spec: Any, classes: tuple[Any, ...], source: str) -> dict[str, Any]:
    """The :class:`~kit.competitions.Competition` fields of the image-file keys of a checked spec."""
    if spec.columns.labels is not None and "classes" not in spec.model_fields_set:
        classes = tuple(spec.columns.labels)
    if spec.columns.labels is not None and tuple(spec.columns.labels) != tuple(str(value) for value in classes):
        raise KitError(f"{source}: key columns.labels: must list the classes, in their order")
    _check_task(spec, classes, source)
    fields: dict[str, Any] = {
        "class_values": classes,
        "task": spec.task,
        "label_columns": tuple(spec.columns.labels or ()),
        "label_separator": spec.columns.separator,
        "group_column": spec.columns.group,
        "submission_kind": spec.submission.kind,
        "top_k": spec.submission.k,
        "submission_columns": _submission(spec, classes, source),
    }
    if spec.images is not None:
        images = spec.images
        pattern = _check_images(images, spec.columns, source)
        fields["images"] = ImageFiles(images.layout, images.train, images.test, pattern, images.test_ids, images.resize)
    return fields


def image_content(competition: Competition, content: dict[str, Any]) -> dict[str, Any]:
    """``content`` (a spec's TOML table) with the image-file keys of ``competition`` that differ from the defaults."""
    if competition.task != "single":
        content = {"name": content.pop("name"), "task": competition.task, **content}
    columns = content["columns"]
    if competition.label_columns:
        columns["labels"] = list(competition.label_columns)
    if competition.label_separator != " ":
        columns["separator"] = competition.label_separator
    if competition.group_column:
        columns["group"] = competition.group_column
    submission = {"kind": competition.submission_kind} if competition.submission_kind != "label" else {}
    if competition.submission_kind == "top_k":
        submission["k"] = competition.top_k
    if submission:
        content["submission"] = submission
    if competition.images is not None:
        content.pop("pixels", None)
        images = competition.images
        columns.pop("first_id", None)  # test ids come from the images' names
        if images.layout != "csv":  # no CSV names the images: its keys would only mislead
            columns.pop("label", None)
            for key in ("train", "test"):
                content["files"].pop(key, None)
        table: dict[str, Any] = {"layout": images.layout, "train": images.train, "test": images.test}
        if images.pattern:
            table["pattern"] = images.pattern
        if images.test_ids != "name":
            table["test_ids"] = images.test_ids
        if images.resize != "squash":
            table["resize"] = images.resize
        content["images"] = table
    return content
