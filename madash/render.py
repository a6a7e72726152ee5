"""Rendering of the templates in conf/ and debian/ with jinja2.

StrictUndefined turns a missing variable into an error instead of an empty
string: a half-rendered configuration file must never reach a package. Every value
a template inserts goes through the escaping filter of the file's format (see
madash.formats; tests/test_templates.py fails on an insertion without one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache, wraps
from typing import Any

import jinja2

from madash.errors import MadashError, RenderError
from madash.formats import aptconf, deb822, envfile, influxql, lintian, shell, stunnel, sudoers, systemd, toml, yaml
from madash.resources import data_root

# Filter name -> function, by format. The names are what templates write after "|".
FILTERS: dict[str, Callable[[Any], str]] = {
    "toml": toml.string,
    "toml_key": toml.key,
    "toml_array": toml.array,
    "toml_comment": toml.comment,
    "telegraf": toml.telegraf,
    "telegraf_key": toml.telegraf_key,
    "telegraf_array": toml.telegraf_array,
    "telegraf_secret": toml.telegraf_secret,
    "telegraf_variable": toml.telegraf_variable,
    "telegraf_int": toml.integer,
    "yaml": yaml.scalar,
    "compose": yaml.compose,
    "grafana": yaml.grafana,
    "yaml_comment": yaml.comment,
    "deb822": deb822.value,
    "deb822_word": deb822.word,
    "deb822_words": deb822.words,
    "deb822_field": deb822.field_name,
    "deb822_comment": deb822.comment,
    "stunnel": stunnel.value,
    "stunnel_section": stunnel.section,
    "stunnel_comment": stunnel.comment,
    "systemd": systemd.value,
    "systemd_exec": systemd.executable,
    "systemd_arg": systemd.arg,
    "systemd_comment": systemd.comment,
    "aptconf": aptconf.string,
    "aptconf_host": aptconf.host,
    "aptconf_comment": aptconf.comment,
    "sudoers": sudoers.arg,
    "sudoers_comment": sudoers.comment,
    "shell": shell.quote,
    "shell_comment": shell.comment,
    "influxql_ident": influxql.ident,
    "influxql_string": influxql.string,
    "env": envfile.value,
    "env_comment": envfile.comment,
    "lintian_package": lintian.package,
    "lintian_comment": lintian.comment,
}


def _strict(function: Callable[[Any], str]) -> Callable[[Any], str]:
    """A filter that lets StrictUndefined report a missing variable as such, rather than
    being refused by the filter as a value of the wrong type."""

    @wraps(function)
    def checked(value: Any) -> str:
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()
        return function(value)

    return checked


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - renders configuration files, never HTML
    )
    env.filters.update({name: _strict(function) for name, function in FILTERS.items()})
    return env


def environment() -> jinja2.Environment:
    """The environment templates render in (the tests parse templates with it)."""
    return _environment()


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render the template at ``template`` (relative to the data root)."""
    try:
        return _environment().get_template(template).render(**context)
    except jinja2.TemplateNotFound:
        raise MadashError(f"template {template} is missing", hint="reinstall madash") from None
    except jinja2.UndefinedError as exc:
        # A bug in madash, not in the user's input: say which template.
        raise MadashError(f"template {template}: {exc.message}") from None
    except RenderError as exc:
        raise RenderError(f"template {template}: {exc.message}") from None
