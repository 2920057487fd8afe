"""Serving the portal: TLS with a certificate and key, plain HTTP only on loopback.

Behind a reverse proxy (nginx, Caddy) that terminates TLS, bind to 127.0.0.1, pass
``behind_proxy=True`` so the client address comes from ``X-Forwarded-For`` (trusted from the
loopback proxy only), and let the proxy send HSTS.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from avanon.access.service import Governance
from avanon.errors import ParameterError
from avanon.portal.app import create_app


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, tls_cert: Path | None, tls_key: Path | None, behind_proxy: bool = False) -> bool:
    """Validate the listening options; returns whether TLS is on.

    Plain HTTP is allowed on loopback only; TLS needs both a certificate and a key file.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ParameterError("Give both --tls-cert and --tls-key, or neither.")
    tls = tls_cert is not None
    for path in (tls_cert, tls_key):
        if path is not None and not Path(path).is_file():
            raise ParameterError(f"TLS file {path} does not exist.")
    if not tls and not is_loopback(host):
        raise ParameterError(f"Refusing to serve plain HTTP on {host}: bind to 127.0.0.1 (behind a TLS reverse proxy) or give --tls-cert and --tls-key.")
    return tls


def serve(
    gov: Governance, *, host: str = "127.0.0.1", port: int = 8000, tls_cert: Path | None = None, tls_key: Path | None = None, behind_proxy: bool = False
) -> None:
    """Run the portal with uvicorn until interrupted.

    Parameters
    ----------
    gov : Governance
        Catalogue, audit trail and vault to serve.
    host : str
        Listening address; plain HTTP only on loopback.
    port : int in [1, 65535]
        Listening port.
    tls_cert, tls_key : Path, optional
        PEM certificate chain and private key: serve HTTPS with HSTS.
    behind_proxy : bool
        Trust ``X-Forwarded-*`` headers from a proxy on 127.0.0.1.
    """
    import uvicorn

    if not 1 <= port <= 65535:
        raise ParameterError(f"The 'port' parameter must be an int in the range [1, 65535]. Got {port} instead.")
    tls = check_bind(host, tls_cert=tls_cert, tls_key=tls_key, behind_proxy=behind_proxy)
    app = create_app(gov, tls=tls)
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        proxy_headers=behind_proxy,
        forwarded_allow_ips="127.0.0.1" if behind_proxy else None,
        server_header=False,
        log_level="warning",
    )
