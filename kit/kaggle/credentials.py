"""The official client, authenticated by its own credential lookup; kit only names where the credentials came from.

The ``kaggle`` client looks, in its own order, for an access token (``KAGGLE_API_TOKEN``, ``~/.kaggle/access_token``),
then a username and key (``kaggle.json`` in ``KAGGLE_CONFIG_DIR`` or ``~/.kaggle``, overridden by
``KAGGLE_USERNAME``/``KAGGLE_KEY``), then the OAuth login of ``kaggle auth login``. kit does not read these itself;
it asks the client, and turns "found none" into one line. Secrets are never printed or written anywhere.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kaggle.api.kaggle_api_extended import KaggleApi

SETTINGS_URL = "https://www.kaggle.com/settings"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the client's prints (help texts, URLs, progress notes): the library reports through return values."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def new_client() -> KaggleApi:
    """A fresh, not yet authenticated client (the package tries to authenticate, quietly, when first imported)."""
    with quiet():
        from kaggle.api.kaggle_api_extended import KaggleApi
    return KaggleApi()


def missing(api: KaggleApi) -> str:
    """The one line for "the client found no credentials" (its ``authenticate`` exits when it finds none)."""
    return (
        f"no Kaggle credentials: put kaggle.json in {api.config_dir}/ (or set KAGGLE_USERNAME and KAGGLE_KEY, or "
        f"KAGGLE_API_TOKEN) — see {SETTINGS_URL}"
    )


def source(api: KaggleApi) -> str:
    """Where the client took (or is trying) its credentials from: a description, never the secret."""
    from kagglesdk.kaggle_env import get_access_token_from_env

    method = api.config_values.get(api.CONFIG_NAME_AUTH_METHOD)
    if method == "OAUTH":
        return "~/.kaggle/credentials.json (kaggle auth login)"
    if method in (None, "ACCESS_TOKEN"):
        token, where = get_access_token_from_env()
        if token:
            return "~/.kaggle/access_token" if where == "access_token" else str(where)
    return "KAGGLE_USERNAME/KAGGLE_KEY" if "KAGGLE_KEY" in os.environ else str(api.config)
