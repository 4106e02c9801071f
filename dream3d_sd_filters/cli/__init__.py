"""Command-line interfaces: ``sd-filters`` (use the models) and ``sd-train`` (make them).

Sub-commands are imported only when invoked, so ``sd-filters --help`` and light
commands such as ``info`` start without loading torch.
"""

from __future__ import annotations

import importlib

import click

from ..errors import InputError


class UserError(click.ClickException):
    """A one-line error for bad input; exit status 2, no traceback."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


class LazyGroup(click.Group):
    """A click group whose commands live in other modules, given as ``"module:attr"``."""

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, attr = self.lazy_commands[cmd_name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except InputError as error:
            raise UserError(str(error)) from None
