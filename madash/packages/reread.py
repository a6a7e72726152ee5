"""Every generated file, read back by its format's parser before it is packaged.

The templates escape every value they insert; this stage is the second line: it
parses what was rendered and refuses the package when a file holds a table,
section, service, field or key the generator did not put there, or a value other
than the one it meant. An injection that got past the filters (or a template
bug) then stops the bake with one error instead of reaching a host as root.
The checks take plain data, so that client.py and server.py call them without
this module knowing their layouts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from madash.errors import MadashError
from madash.formats import aptconf, deb822, envfile, nginx, stunnel, systemd, toml, yaml


class RereadError(MadashError):
    """A generated file says something its generator did not: a bug or an injection (exit 1)."""


def _refuse(path: str, message: str) -> RereadError:
    return RereadError(
        f"{path} as generated {message}; the package was not written",
        hint="this is a bug or a value that escaped validation: please report it with the madash.toml involved",
    )


def _keys(path: str, what: str, found: Iterable[str], allowed: Collection[str], required: Collection[str] = ()) -> None:
    found = list(found)
    extra = sorted(set(found) - set(allowed))
    if extra:
        raise _refuse(path, f"holds {what} it should not: {', '.join(extra)}")
    missing = sorted(set(required) - set(found))
    if missing:
        raise _refuse(path, f"lacks {what}: {', '.join(missing)}")
    repeated = sorted({k for k in found if found.count(k) > 1})
    if repeated:
        raise _refuse(path, f"repeats {what}: {', '.join(repeated)}")


def _equal(path: str, what: str, found: object, expected: object) -> None:
    if found != expected:
        raise _refuse(path, f"has {what} {found!r} where {expected!r} was meant")


def _parse(path: str, parser: Any, text: str) -> Any:
    try:
        return parser(text)
    except MadashError as exc:
        raise _refuse(path, f"does not parse ({exc.message})") from None
    except ValueError as exc:  # tomllib, yaml and python-debian raise ValueError subclasses
        raise _refuse(path, f"does not parse ({exc})") from None


# --- the formats ----------------------------------------------------------------


def control(path: str, text: str, fields: Mapping[str, str]) -> None:
    """A control paragraph: exactly the fields meant, each with its value."""
    paragraphs = _parse(path, deb822.parse_paragraphs, text)
    _equal(path, "a number of paragraphs", len(paragraphs), 1)
    _keys(path, "fields", paragraphs[0], fields, fields)
    for name, value in fields.items():
        _equal(path, f"field {name}", deb822.unfold(paragraphs[0][name]).strip(), deb822.unfold(value).strip())


def sources(path: str, text: str, url: str, suites: list[str], keyring: str) -> None:
    # apt reads '#' lines in .sources files as comments.
    paragraphs = _parse(path, lambda source: deb822.parse_paragraphs(source, comments=True), text)
    _equal(path, "a number of paragraphs", len(paragraphs), 1)
    expected = {"Types": "deb", "URIs": url, "Suites": " ".join(suites), "Components": "main", "Signed-By": keyring}
    _keys(path, "fields", paragraphs[0], expected, expected)
    for name, value in expected.items():
        _equal(path, f"field {name}", paragraphs[0][name], value)


def apt_conf(path: str, text: str, expected: Mapping[str, str]) -> None:
    options = _parse(path, aptconf.parse, text)
    _keys(path, "options", options, expected, expected)
    for name, value in expected.items():
        _equal(path, f"option {name}", options[name], value)


def env_file(path: str, text: str, expected: Mapping[str, str]) -> None:
    variables = _parse(path, envfile.parse, text)
    _keys(path, "variables", variables, expected, expected)
    for name, value in expected.items():
        _equal(path, f"variable {name}", variables[name], value)


def unit(
    path: str,
    text: str,
    allowed: Mapping[str, Collection[str]],
    values: Mapping[str, Mapping[str, str | None]] | None = None,
) -> None:
    """A systemd unit or drop-in: only the sections and keys meant; ``values``: keys given exactly once with
    that value, or (None) not at all, such as a privilege that only some sites' units grant."""
    sections = _parse(path, systemd.parse, text)
    _keys(path, "sections", sections, allowed)
    for name, assignments in sections.items():
        keys = {key for key, _ in assignments}
        _keys(path, f"keys in [{name}]", keys, allowed[name])
    for name, expected in (values or {}).items():
        for key, value in expected.items():
            found = [v for k, v in sections.get(name, []) if k == key]
            _equal(path, f"{key} in [{name}]", found, [] if value is None else [value])


def stunnel_conf(
    path: str, text: str, global_options: Collection[str], services: Mapping[str, Mapping[str, str | None]]
) -> None:
    """stunnel.conf: the global options meant, exactly the services meant, each with exactly its options."""
    config = _parse(path, stunnel.parse, text)
    _keys(path, "global options", {name for name, _ in config.globals}, global_options)
    _keys(path, "services", [s.name for s in config.services], services, services)
    for service in config.services:
        options = [name for name, _ in service.options]
        _keys(path, f"options in [{service.name}]", options, services[service.name], services[service.name])
        for name, value in service.options:
            expected = services[service.name][name]
            if expected is not None:  # None: a constant of the template, not a value madash inserts
                _equal(path, f"{name} in [{service.name}]", value, expected)


def _directives(directives: tuple[nginx.Directive, ...], where: str = "") -> list[tuple[str, tuple[str, ...]]]:
    """Every directive as (its path of blocks, each with its arguments, then its name; its arguments)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for directive in directives:
        path = f"{where}/{directive.name}" if where else directive.name
        found.append((path, directive.args))
        if directive.block is not None:
            found += _directives(directive.block, f"{path}[{' '.join(directive.args)}]")
    return found


def nginx_conf(path: str, text: str, expected: list[tuple[str, tuple[str, ...]]]) -> None:
    """An nginx configuration as nginx reads it: exactly these directives, in this order, with these arguments."""
    found = _directives(_parse(path, nginx.parse, text))
    for number, (got, meant) in enumerate(zip(found, expected, strict=False), 1):
        _equal(path, f"directive {number}", got, meant)
    _equal(path, "a number of directives", len(found), len(expected))


def telegraf(path: str, text: str, *, tags: Mapping[str, str], agent: Mapping[str, object], inputs: Collection[str],
             outputs: Mapping[str, object] | None, processors: Collection[str] = (),
             secret_stores: Mapping[str, str] | None = None, variables: Collection[str] = ()) -> None:  # fmt: skip
    """A Telegraf configuration: its tags, agent values and output as meant, exactly the inputs,
    processors and secret stores meant (``secret_stores``: plugin name -> id).

    Nothing may reach Telegraf's ${VAR} expansion but ``variables``, and no secret reference
    "@{...}" but the output's password.
    """
    document = _parse(path, toml.parse, text)
    top = {"agent", "inputs"} | ({"global_tags"} if tags or "global_tags" in document else set())
    top |= {"outputs"} if outputs is not None else set()
    top |= {"processors"} if processors else set()
    top |= {"secretstores"} if secret_stores else set()
    _keys(path, "tables", document, top, top - {"global_tags"})
    _equal(path, "global tags", dict(document.get("global_tags", {})), dict(tags))
    for key, value in agent.items():
        _equal(path, f"agent.{key}", document["agent"].get(key), value)
    for table, names in (("inputs", inputs), ("processors", processors)):
        plugins = document.get(table, {})
        _keys(path, table, plugins, names, names)
        for name, instances in plugins.items():
            _equal(path, f"a number of [[{table}.{name}]] tables", len(instances), 1)
    if secret_stores:
        stores = document["secretstores"]
        _keys(path, "secret stores", stores, secret_stores, secret_stores)
        for name, store_id in secret_stores.items():
            _equal(path, f"the ids of [[secretstores.{name}]]", [s.get("id") for s in stores[name]], [store_id])
    password = None
    if outputs is not None:
        _keys(path, "outputs", document["outputs"], {"influxdb"}, {"influxdb"})
        (influxdb,) = document["outputs"]["influxdb"]
        for key, value in outputs.items():
            _equal(path, f"outputs.influxdb.{key}", influxdb.get(key), value)
        password = influxdb.get("password")
    # Telegraf resolves "@{store:key}" in values (comments are gone by then): one is meant.
    references = [v for v in _strings(document) if "@{" in v]
    if references not in ([], [password]):
        raise _refuse(path, "holds a secret reference other than the output's password")
    # Every "$" Telegraf could expand (formats.toml's rule) must be a ${NAME} meant.
    for found in toml.TELEGRAF_DOLLAR.finditer(text):
        named = _VARIABLE.match(text, found.start())
        if not named or named[1] not in variables:
            allowed = ", ".join(sorted(variables)) or "none"
            raise _refuse(path, f"references an environment variable other than {allowed}")


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _strings(value: object) -> Iterable[str]:
    """Every string of a parsed document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def credential(path: str, data: bytes, expected: str) -> None:
    """A systemd credential file holding one secret: exactly its bytes, no newline, no control character."""
    _equal(path, "the content", data, expected.encode())
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in expected):
        raise _refuse(path, "holds a control character")


def compose(
    path: str, text: str, services: Mapping[str, Mapping[str, object]], keys: Mapping[str, Collection[str]]
) -> None:
    """compose.yml: exactly the services meant, each with only its keys, and the images and ports meant."""
    document = _parse(path, yaml.parse, text)
    if not isinstance(document, dict):
        raise _refuse(path, "is not a mapping")
    _keys(path, "top-level keys", document, {"version", "services"}, {"services"})
    found = document["services"]
    _keys(path, "services", found, services, services)
    for name, service in found.items():
        _keys(path, f"keys of service {name}", service, keys[name])
        for key, value in services[name].items():
            _equal(path, f"{name}.{key}", service.get(key), value)


def yaml_keys(path: str, text: str, expected: Mapping[str, object]) -> None:
    """A small YAML document whose whole key structure is known: compared as a tree of keys."""
    document = _parse(path, yaml.parse, text)
    _equal(path, "a structure", _shape(document), _shape(expected))


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return None


def changelog(path: str, text: str, package: str, maintainer: str, blocks: list[tuple[str, str, list[str]]]) -> None:
    """A changelog: exactly the entries (version, date, lines) meant, newest first, and nothing else."""
    from debian.changelog import Changelog, ChangelogParseError

    try:
        parsed = Changelog(text, strict=True)
    except ChangelogParseError as exc:
        raise _refuse(path, f"does not parse ({exc})") from None
    _equal(path, "a number of entries", len(parsed), len(blocks))
    for block, (version, date, lines) in zip(parsed, blocks, strict=True):
        _equal(path, "a package name", block.package, package)
        _equal(path, "a version", str(block.version), version)
        _equal(path, "distributions and urgency", (block.distributions, block.urgency), ("unstable", "medium"))
        _equal(path, "an author and date", (block.author, block.date), (maintainer, date))
        _equal(path, f"the lines of {version}", block.changes(), ["", *lines, ""])
