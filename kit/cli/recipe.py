"""`kit recipe list`, `kit recipe show`, `kit recipe schema`: the recipes kit finds, one recipe resolved as TOML, and
the JSON Schema that lets an editor check recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from kit.cli.options import SET_HELP, parse_sets
from kit.cli.render import console

recipe_app = typer.Typer(no_args_is_help=True, help="List recipes, show one resolved, write their JSON Schema.")


def register(app: typer.Typer) -> None:
    """Add the ``kit recipe`` group to the ``kit`` app."""
    app.add_typer(recipe_app, name="recipe")


@recipe_app.command("list")
def list_recipes() -> None:
    """The recipes on the search path ($KIT_RECIPES, ./recipes, the shipped ones): name, origin, description."""
    from kit.recipes import list_recipes as entries

    found = entries()
    table = Table(title="recipes", expand=False)
    table.add_column("name", no_wrap=True)
    table.add_column("from", overflow="fold", max_width=18)
    table.add_column("description", overflow="fold")
    for entry in found:
        table.add_row(escape(entry.name), escape(entry.origin), escape(entry.description))
    console.print(table)
    for entry in found:
        for hidden in entry.shadows:
            console.print(f"note: {escape(str(entry.path))} shadows {escape(str(hidden))}", highlight=False)


@recipe_app.command("show")
def show(
    recipe: str = typer.Argument(..., help="Recipe name or path to a .toml file."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
) -> None:
    """Print RECIPE resolved (extends and --set applied) as TOML, headed by its content hash."""
    from kit.recipes import load_recipe, recipe_toml

    loaded = load_recipe(recipe)
    if set_:
        loaded = loaded.with_overrides(parse_sets(set_))
    typer.echo(recipe_toml(loaded), nl=False)


@recipe_app.command("schema")
def schema(
    out: Optional[Path] = typer.Option(None, help="Write the schema to this file instead of printing it."),
) -> None:
    """Print (or write) the JSON Schema of recipe files, for editors (taplo, Even Better TOML).

    Then put `#:schema ./recipe.schema.json` at the top of a recipe, or map recipes/*.toml to it in .taplo.toml.
    """
    import json

    from kit.errors import KitError
    from kit.recipes import recipe_json_schema

    text = json.dumps(recipe_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise KitError(f"{out}: cannot write the schema ({error.strerror or error})") from None
    console.print(f"wrote {escape(str(out))}", highlight=False)
