"""The ``serve`` verb: run the REST API (and the dashboard, when installed) with uvicorn.

Binds 127.0.0.1 by default. Bound to any other address, job-creating and writing
endpoints need ``Authorization: Bearer $OREFLOW_API_TOKEN``, and the server refuses to start
without that token (exit 2). Imports inside the command are deliberate: the CLI must start
fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from oreflow.cli._app import app

__all__ = ["serve"]


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line, before any work, when ``host:port`` cannot be bound (in use, or
    an address this machine does not have)."""
    import socket

    from oreflow.errors import InputError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen()
        except OSError as exc:
            raise InputError(f"--port {port}: cannot listen on {host}:{port} "
                             f"({exc.strerror or exc}); choose another --port") from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(
        help="Address to bind. Anything but loopback needs OREFLOW_API_TOKEN set (writing "
             "endpoints then need 'Authorization: Bearer <token>').")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8765,
    workers: Annotated[int, typer.Option(
        help="Worker processes running jobs (stress, plan, reports …) at once.", min=1,
        max=64)] = 2,
    data_dir: Annotated[Path | None, typer.Option(
        help="User data directory (imports, and the jobs database in DIR/api/); default "
             "$OREFLOW_DATA_DIR or the platform's per-user directory.")] = None,
) -> None:
    """Serve the REST API at http://HOST:PORT/api (OpenAPI docs at /docs); Ctrl-C stops.

    Jobs and saved scenarios persist in the data directory; a job running when the server
    stops shows as 'interrupted' at the next start (POST /api/jobs/ID/resubmit re-runs it).
    """
    from oreflow.api.security import check_bind
    from oreflow.api.settings import ApiSettings
    from oreflow.data.userdir import check_user_dir

    if data_dir is not None:
        check_user_dir(data_dir, setting="--data-dir")
        os.environ["OREFLOW_DATA_DIR"] = str(data_dir)  # the store and the workers read it
        settings = ApiSettings(data_dir=data_dir, host=host, workers=workers, warm=True)
    else:
        settings = ApiSettings(host=host, workers=workers, warm=True)
    check_bind(settings)
    _check_port_free(host, port)

    import warnings

    import uvicorn
    from pydantic.warnings import UnsupportedFieldAttributeWarning

    # FastAPI builds route parameters at the first matching request; pydantic may then warn
    # that a Query's alias has no effect (it has: FastAPI reads it). Not for a user's console.
    warnings.filterwarnings("ignore", message="The 'alias' attribute with value",
                            category=UnsupportedFieldAttributeWarning)

    from oreflow.api.app import create_app

    api = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"oreflow API at http://{shown}:{port}/api (docs: http://{shown}:{port}/docs); "
               "Ctrl-C to stop")
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)
