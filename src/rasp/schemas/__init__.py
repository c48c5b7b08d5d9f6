"""The configuration schemas: the one place where a setting's default and limits are written.

The JSON schemas (YAML files next to this module, one per config section, rooted at
``config.schema.yaml``) are what Snakemake validates the workflow's config with, and what
the library's settings classes (:class:`rasp.hls.HlsOptions`,
:class:`rasp.prune.config.PruneConfig`, :class:`rasp.train.TrainConfig`, ...) take their
defaults from (:func:`defaults`) and check their values with (:func:`check`). A default or
a limit changed in a schema file changes both.

A location inside a section is a path of property names from the section's root, where
``$ref`` pointers (``#/$defs/...`` or another file) are followed on the way:
``("jets",)`` in ``pruning`` is the per-dataset pruning block, ``("jets", "solver")`` its
solver block.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent
#: The root schema of the workflow's config (Snakefile: ``validate(config, ...)``).
ROOT_SCHEMA = SCHEMA_DIR / "config.schema.yaml"


class SettingsError(ValueError):
    """A setting that its schema does not allow; the message names the key and the rule."""


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _resolve(schema: Mapping[str, Any], path: Path) -> tuple[Mapping[str, Any], Path]:
    """Follow ``$ref`` (another schema file and/or a ``#/...`` pointer) until a schema."""
    while "$ref" in schema:
        ref_file, _, pointer = schema["$ref"].partition("#")
        if ref_file:
            path = (path.parent / ref_file).resolve()
        node: Any = _load(path)
        for part in [p for p in pointer.split("/") if p]:
            node = node[part]
        schema = node
    return schema, path


def subschema(section: str, *keys: str) -> tuple[dict[str, Any], Path]:
    """The schema at ``keys`` inside the schema file of ``section`` (``hls``, ``pruning``,
    ...; ``pruning#/$defs/dataset_block`` starts at a definition), ``$ref``s followed, and
    the file it lives in."""
    name, _, pointer = section.partition("#")
    path = SCHEMA_DIR / f"{name}.schema.yaml"
    schema, path = _resolve({"$ref": f"{path.name}#{pointer}"}, path)
    for key in keys:
        props = schema.get("properties", {})
        if key in props:
            sub = props[key]
        elif isinstance(schema.get("additionalProperties"), Mapping):
            sub = schema["additionalProperties"]
        else:
            raise KeyError(f"the {section} schema has no key {key!r} under {keys}")
        schema, path = _resolve(sub, path)
    return dict(schema), path


#: The schema of one ``pruning.<dataset>`` block (PruneConfig and its sub-blocks).
PRUNING_BLOCK = "pruning#/$defs/dataset_block"


def enum(section: str, *keys: str) -> tuple[Any, ...]:
    """The allowed values of one property: ``enum("hls", "csim")`` -> ``("all", ...)``."""
    return tuple(subschema(section, *keys)[0]["enum"])


def defaults(section: str, *keys: str) -> dict[str, Any]:
    """``{property: default}`` of the properties at ``keys`` of ``section`` that declare one
    (deep copies: a mutable default is never shared)."""
    schema, path = subschema(section, *keys)
    resolved = {key: _resolve(sub, path)[0] for key, sub in schema.get("properties", {}).items()}
    return {key: copy.deepcopy(r["default"]) for key, r in resolved.items() if "default" in r}


def default(section: str, *keys: str) -> Any:
    """The default of one property: ``default("hls", "csim")`` -> ``"best"``."""
    values = defaults(section, *keys[:-1])
    if keys[-1] not in values:
        raise KeyError(f"{section}.{'.'.join(keys)} declares no default in its schema")
    return values[keys[-1]]


@functools.cache
def _validator(section: str, keys: tuple[str, ...]):
    from urllib.parse import unquote, urlparse

    import jsonschema
    import referencing
    import referencing.jsonschema

    schema, path = subschema(section, *keys)

    def retrieve(uri: str) -> referencing.Resource:  # another schema file of this folder
        return referencing.Resource.from_contents(_load(Path(unquote(urlparse(uri).path))))

    root = _load(path)
    base = path.as_uri()
    resource = referencing.Resource.from_contents(root, default_specification=(
        referencing.jsonschema.DRAFT202012))
    registry = referencing.Registry(retrieve=retrieve).with_resource(base, resource)
    body = {k: v for k, v in schema.items() if k != "$schema"}
    return jsonschema.Draft202012Validator({**body, "$id": base, "$defs": root.get("$defs", {})},
                                           registry=registry)


def check(values: Mapping[str, Any], section: str, *keys: str, where: str | None = None,
          ignore: tuple[str, ...] = ()) -> None:
    """Raise :class:`SettingsError` unless ``values`` satisfy the schema at ``keys``.

    ``where``: how the message names the block (default ``section.keys``); ``ignore``:
    top-level keys not checked (e.g. ones another class reads). The message names the
    offending key, its value, the rule it breaks and the key's description.
    """
    where = where or ".".join((section, *keys))
    data = {k: v for k, v in dict(values).items() if k not in ignore}
    errors = sorted(_validator(section, tuple(keys)).iter_errors(data),
                    key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if not errors:
        return
    err = errors[0]
    location = ".".join([where, *map(str, err.absolute_path)])
    message = err.message
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        message += f"; allowed: {allowed}"
    described = err.schema.get("description") if isinstance(err.schema, Mapping) else None
    hint = f" ({' '.join(str(described).split())})" if described and len(described) < 300 else ""
    more = f" [and {len(errors) - 1} more]" if len(errors) > 1 else ""
    raise SettingsError(f"{location}: {message}{hint}{more}")


def defaults_from(section: str, *keys: str):
    """Class decorator (put it under ``@dataclass``): every annotated field without a value
    gets the schema's default of the property of the same name at ``keys`` of
    ``section`` (a list default as a tuple). A field the schema gives no default keeps
    needing one of its own."""
    values = defaults(section, *keys)

    def decorate(cls: type) -> type:
        for name in cls.__dict__.get("__annotations__", {}):
            if name not in cls.__dict__ and name in values:
                value = values[name]
                setattr(cls, name, tuple(value) if isinstance(value, list) else value)
        return cls

    return decorate


def _json_form(value: Any) -> Any:
    """A settings value as the schema sees it: tuples as lists, numpy scalars as numbers."""
    if isinstance(value, Mapping):
        return {k: _json_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_form(v) for v in value]
    return value.item() if hasattr(value, "item") and hasattr(value, "dtype") else value


def check_fields(settings: Any, section: str, *keys: str, where: str | None = None,
                 ignore: tuple[str, ...] = ()) -> None:
    """:func:`check` on the fields of a settings dataclass (its ``__post_init__``)."""
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    check(_json_form(values), section, *keys, where=where, ignore=ignore)


def known_keys(cls: type, values: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """``values`` as a dict, refusing keys that are no field of dataclass ``cls``."""
    values = dict(values or {})
    allowed = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise SettingsError(f"unknown {where} keys {unknown}; allowed: {allowed}")
    return values


class Settings:
    """Mixin of the settings dataclasses: :meth:`from_dict` from a config mapping and
    :meth:`to_dict` back (a config list is a field tuple and back). ``WHERE`` names the
    block in messages; the class checks its values in ``__post_init__``."""

    WHERE = "settings"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None):
        """Build from a mapping; unknown keys raise a :class:`SettingsError` naming them."""
        values = known_keys(cls, values, cls.WHERE)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain config data (tuples as lists)."""
        return _json_form(dataclasses.asdict(self))


def fill_defaults(node: Any, schema: Mapping[str, Any] | None = None,
                  path: Path = ROOT_SCHEMA) -> None:
    """Fill the ``default`` of every absent property of ``node`` in place, recursively,
    following ``$ref``s (defaults to the workflow's whole config under the root schema).

    Snakemake's ``validate()`` sets defaults only from the root schema file: a ``$ref``'d
    section file declares its own ``$schema``, which switches jsonschema to its plain
    validator. The workflow therefore calls this after validating.
    """
    schema, path = _resolve(_load(path) if schema is None else schema, path)
    if not isinstance(node, dict):
        return
    props = schema.get("properties", {})
    for key, sub in props.items():
        resolved, _ = _resolve(sub, path)
        if key not in node and "default" in resolved:
            node[key] = copy.deepcopy(resolved["default"])
        if key in node:
            fill_defaults(node[key], sub, path)
    extra = schema.get("additionalProperties")
    patterns = schema.get("patternProperties", {})
    for key, value in node.items():
        if key in props:
            continue
        for pattern, sub in patterns.items():
            if re.search(pattern, key):
                fill_defaults(value, sub, path)
        if isinstance(extra, Mapping):
            fill_defaults(value, extra, path)
