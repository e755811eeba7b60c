"""Project CLI: ``kedro run`` (and the packaged ``fruits-pipeline``) with user errors in one line.

Kedro picks ``run`` from here instead of its own (see Kedro's "modify CLI commands" docs);
the command and its options are Kedro's, only a :class:`~fruits_pipeline.errors.UserError`
is reported without a traceback, with exit code 2.
"""

from __future__ import annotations

import sys

import click
from kedro.framework.cli.project import run as kedro_run

from fruits_pipeline.errors import find_user_error


@click.group(name="fruits_pipeline")
def cli() -> None:
    """Project commands."""


@cli.command(name="run", params=kedro_run.params, help=kedro_run.help)
@click.pass_context
def run(ctx: click.Context, **kwargs):
    try:
        return ctx.invoke(kedro_run.callback, **kwargs)
    except Exception as error:
        user_error = find_user_error(error)
        if user_error is None:
            raise
        click.secho(f"Error: {user_error}", err=True, fg="red")
        sys.exit(2)
