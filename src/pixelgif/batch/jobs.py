"""The jobs of ``pixelgif batch``: a JSON Lines or CSV file in, one `Job` or `BadLine` per line out.

A job is a settings object of the schema ``pixelgif morph --from`` reads (so a saved settings file,
on one line, is a job), or just ``prompts`` plus options named like ``pixelgif morph``'s flags
(``{"prompts": ["a cat", "a dog"], "seed": 3, "pixel_size": 4}``), or both. The batch's own flags
are defaults: a job's settings win over them. The merge is `pixelgif.options.merge_settings`, the
one ``pixelgif morph --from FILE --flags`` uses, so a job gives the same request as that command.
No torch here: a whole file is checked in a blink, before any model loads.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..encode import FORMATS, lookup
from ..errors import format_error
from ..options import (
    ENCODE_FLAGS,
    GRID_FLAGS,
    MODEL_OPTIONS,
    MORPH_FLAGS,
    OPTIONS,
    PIXELATE_FLAGS,
    SCHEMA,
    TEXT_OPTIONS,
    merge_settings,
)
from ..run import RunRequest, settings_request
from ..settings import FORMAT_NAME, SECTIONS, check_settings, config_to_dict

STATE_DIR = ".pixelgif-batch"  # done records, inside the output folder
GALLERY = "index.html"
RESERVED = {STATE_DIR, GALLERY}
ALIASES = {"hold_ms": "hold", "prompt": "prompts"}  # the --hold-ms flag; "prompt" for one cell of prompts
DOCUMENT_KEYS = {"format", "version", "versions", "run"}  # of a saved settings file: not options
NAME_CHARS = 48  # of the prompts, in a generated output name


@dataclass
class Job:
    """One valid line: what to render and where (``name``: the output, relative to the batch folder)."""

    line: int
    name: str
    request: RunRequest
    key: str  # hash of everything that decides the job's files: a done record with another key is stale

    @property
    def prompts(self) -> list[str]:
        """Return the job's keyframes as text: prompts, and image keyframes by their file."""
        from ..morph.keyframes import keyframe_label

        return [keyframe_label(k) for k in self.request.morph.prompts]

    @property
    def format(self) -> str:
        return self.request.encode.resolve_format(self.request.output)

    def paths(self) -> list[Path]:
        """Return every file the job writes: the output (and its data file), then the settings file."""
        fmt = FORMATS[self.format]
        return [*fmt.paths(self.request.output), fmt.settings_path(self.request.output)]


@dataclass
class BadLine:
    """A line that is no job, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def read_jobs(path: str | Path, outdir: str | Path, defaults: dict | None = None) -> tuple[list[Job], list[BadLine]]:
    """Return the jobs of job file ``path`` (CSV by its suffix, else JSON Lines) and its bad lines.

    ``defaults``: options (`pixelgif.options.OPTIONS` names) for every job, under each job's own.
    Outputs go into ``outdir``; two jobs that would write the same file make the second one bad.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"job file {str(path)!r} is not UTF-8 text: {exc}") from None
    rows = csv_rows(text) if path.suffix.lower() == ".csv" else jsonl_rows(text)
    jobs: list[Job] = []
    bad: list[BadLine] = []
    owners: dict[Path, int] = {}  # every file a job writes -> its line
    for line, row in rows:
        try:
            if isinstance(row, BadLine):
                raise ValueError(row.reason)
            job = make_job(line, row, Path(outdir), defaults or {})
            taken = [owners[p] for p in job.paths() if p in owners]
            if taken:
                raise ValueError(f"output {job.name!r} would overwrite a file of line {taken[0]}; give another output")
        except Exception as exc:  # every reason, as one line: the file goes on
            bad.append(BadLine(line, format_error(exc)))
            continue
        owners.update((p, line) for p in job.paths())
        jobs.append(job)
    return jobs, bad


def jsonl_rows(text: str) -> list[tuple[int, dict | BadLine]]:
    """Return (line number, object or BadLine) for each line of JSON Lines ``text``; blank lines and
    lines starting with ``#`` are skipped."""
    rows: list[tuple[int, dict | BadLine]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((number, BadLine(number, f"not valid JSON: {exc.msg} (column {exc.colno})")))
            continue
        if not isinstance(value, dict):
            rows.append((number, BadLine(number, f"a job is a JSON object, got {type(value).__name__}")))
            continue
        rows.append((number, value))
    return rows


def csv_rows(text: str) -> list[tuple[int, dict | BadLine]]:
    """Return (line number, options or BadLine) for each row of CSV ``text``.

    The first row names the columns: ``prompts`` (prompts separated by ``|``) and any options;
    an empty cell leaves its option out. Cells are JSON values where that parses (3, true,
    [1, 2]), else text; text options (prompts, palette, model, ...) are always text.
    """
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        return []
    columns = [_option_name(name) for name in header]
    rows: list[tuple[int, dict | BadLine]] = []
    for cells in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            rows.append((number, BadLine(number, f"{len(cells)} cells but {len(columns)} columns")))
            continue
        row = {}
        for name, cell in zip(columns, cells, strict=False):
            if cell.strip():
                row[name] = cell.strip() if name in TEXT_OPTIONS else _cell_value(cell.strip())
        rows.append((number, row))
    return rows


def make_job(line: int, row: dict[str, Any], outdir: Path, defaults: dict) -> Job:
    """Return the job of one line: ``row`` (a settings object, options, or both) over ``defaults``."""
    document = row.get("format") == FORMAT_NAME
    if document:
        # The version and sections of a saved settings file, and what an older file replays with.
        row = check_settings(copy.deepcopy(row), f"line {line}")
    sections = {name: row[name] for name in SECTIONS if isinstance(row.get(name), dict)}
    options = {}
    for key, value in row.items():
        if key in sections or (key in DOCUMENT_KEYS and (document or key != "format")):
            continue
        name = _option_name(key)
        if name not in OPTIONS:
            raise ValueError(f"unknown option {key!r} (options are pixelgif morph's flags, e.g. frames, pixel_size)")
        options[name] = _option_value(name, value)
    output = options.pop("output", None)
    if output is not None:
        output = _output_name(output, saved=document)
    if sections:
        base = {name: dict(sections.get(name, {})) for name in SECTIONS}
        settings = merge_settings(base, {k: v for k, v in defaults.items() if not _set_in(base, k)})
    else:
        settings = merge_settings({}, defaults)
    settings = merge_settings(settings, {**options, "output": output})
    if not settings["morph"].get("prompts"):
        raise ValueError("no prompts: a job needs at least two (a list, or one text with | between them)")
    name = output or default_name(line, settings)
    settings["output"] = str(outdir / name)
    request = settings_request(settings)
    return Job(line, name, request, job_key(request, name))


def default_name(line: int, settings: dict) -> str:
    """Return the output name of a job that gives none: its line number and prompts, and the suffix
    of its format (a GIF by default), e.g. ``0003-a-red-dragon-a-blue-whale.gif``."""
    fmt = settings["encode"].get("format")
    suffix = FORMATS[lookup(fmt).name].suffix if fmt else ".gif"
    words = re.sub(r"[^a-z0-9]+", "-", " ".join(settings["morph"]["prompts"]).lower()).strip("-")
    slug = words[:NAME_CHARS].rstrip("-") or "morph"
    return f"{line:04d}-{slug}{suffix}"


def job_key(request: RunRequest, name: str) -> str:
    """Return a hash of everything that decides a job's files (a palette file by its contents)."""
    record: dict[str, Any] = {
        "name": name,
        "model": request.model,
        "morph": config_to_dict(request.morph),
        "pixelate": config_to_dict(request.pixelate),
        "encode": config_to_dict(request.encode),
        "auto_scale": request.auto_scale,
    }
    palette = request.pixelate.palette
    if isinstance(palette, (str, Path)) and Path(palette).is_file():
        record["palette_file"] = hashlib.sha256(Path(palette).read_bytes()).hexdigest()
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _set_in(settings: dict, option: str) -> bool:
    """Return True if the settings document sets what flag ``option`` would (so a default stays out)."""
    morph, pixelate, encode, model = (settings[s] for s in ("morph", "pixelate", "encode", "model"))
    if option == "seed":
        return morph.get("seed") is not None or morph.get("seeds") is not None
    if option in GRID_FLAGS:
        return any(pixelate.get(name) not in (None, False) for name in GRID_FLAGS)
    if option in MORPH_FLAGS:
        return morph.get(option) is not None
    if option in PIXELATE_FLAGS:
        return pixelate.get(option) is not None
    if option in ENCODE_FLAGS:
        return encode.get(ENCODE_FLAGS[option]) is not None
    if option in MODEL_OPTIONS:
        return model.get(option) is not None
    return False


def _option_name(key: str) -> str:
    name = str(key).strip().lower().lstrip("-").replace("-", "_")
    return ALIASES.get(name, name)


def _option_value(name: str, value: Any) -> Any:
    """Return a job's ``value`` for option ``name`` as the flag's parser would give it."""
    if name == "prompts" and isinstance(value, str):
        return [part.strip() for part in value.split("|")]
    option = SCHEMA.get(name)
    if isinstance(value, str) and option is not None and option.type not in (None, int, float):
        value = option.type(value)  # the flag's own parser: "64x48", "3,5", ".gif"
    if name == "seed":
        return list(value) if isinstance(value, (list, tuple)) else [value]
    return value


def _output_name(output: Any, saved: bool) -> str:
    """Return a job's output as a path inside the batch folder (a saved settings file's: its name)."""
    if not isinstance(output, str) or not output.strip():
        raise ValueError("output must be a file name such as dragon.gif")
    path = PurePosixPath(output.replace("\\", "/"))
    if saved or path.is_absolute():
        path = PurePosixPath(path.name)
    if ".." in path.parts or path.parts[0] in RESERVED:
        raise ValueError(f"output {output!r} must stay inside the batch folder (no .., not {' or '.join(RESERVED)})")
    return str(path)


def _cell_value(cell: str) -> Any:
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        return cell
