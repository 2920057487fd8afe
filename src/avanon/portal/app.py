"""The web portal: server-rendered pages over :class:`~avanon.access.service.Governance`.

Routes only read the request, call one library method and render its result; every decision (who
may see what, the export guard, the audit trail) is made in :mod:`avanon.access`. Security choices:

* session cookie ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when served over TLS; the cookie
  holds a random token whose hash is stored server-side;
* a CSRF token on every state-changing form (the session's, or a double-submit cookie before login);
* one "No such file" answer (404) for files that do not exist and files the user may not see;
* restrictive headers (CSP ``default-src 'self'``, ``nosniff``, ``DENY`` framing, no referrer) and
  HSTS when served over TLS.
"""

from __future__ import annotations

import mimetypes
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from avanon.access.auth import SessionInfo
from avanon.access.policy import TIERS, allowed
from avanon.access.service import Governance, HiddenFile
from avanon.errors import AccessError, ParameterError

HERE = Path(__file__).parent
SESSION_COOKIE = "avanon_session"
LOGIN_CSRF_COOKIE = "avanon_login_csrf"
HTML = {"text/html": {"schema": {"type": "string"}}}
# Catalogue ids are INTEGER columns, 32-bit in PostgreSQL: a larger id in a URL is refused before any query.
MAX_ID = 2**31 - 1
# PostgreSQL cannot store NUL characters in text; no form field may carry one.
NO_NUL = r"^[^\x00]*$"
# Answers any route may give, documented in the OpenAPI schema (the property-based API test holds the
# portal to them): every route redirects to the login page without a live session.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "Redirect: to /login without a live session; after a form, to the page showing its effect."},
    400: {"description": "Not accepted: a value the library rejected, with the reason.", "content": HTML},
    403: {"description": "Refused: a missing or wrong CSRF token, or a role without the permission.", "content": HTML},
    404: {"description": "No such file: it does not exist or the user may not see it.", "content": HTML},
    422: {"description": "Malformed request: which field was wrong and why.", "content": HTML},
}
MEDIA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file's bytes, typed by its extension.", "content": {"*/*": {}}},
    206: {"description": "The requested byte range (``Range`` header, for seeking in a player).", "content": {"*/*": {}}},
}


class LoginRequired(Exception):
    """Raised by :func:`current_session` when no valid session cookie came with the request."""


def current_session(request: Request) -> SessionInfo:
    """The request's live session; raises :class:`LoginRequired` without one."""
    gov: Governance = request.app.state.gov
    info = gov.auth.session(request.cookies.get(SESSION_COOKIE))
    if info is None:
        raise LoginRequired()
    return info


Session = Annotated[SessionInfo, Depends(current_session)]
Csrf = Annotated[str | None, Form(max_length=128, pattern=NO_NUL)]
FileId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
RequestId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ReleaseId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


def validation_message(exc: RequestValidationError) -> str:
    """One readable sentence per malformed field of a request (which field, what was wrong)."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "path", "query")) or "request"
        reason = "must not contain NUL characters" if error.get("type") == "string_pattern_mismatch" else error.get("msg", "")
        parts.append(f"The '{field}' field {reason[0].lower() + reason[1:] if reason else 'is invalid'}.")
    return " ".join(parts) or "The request is malformed."


def create_app(gov: Governance, *, tls: bool = False) -> FastAPI:
    """Build the portal application.

    Parameters
    ----------
    gov : Governance
        The catalogue, audit trail and (optional) vault the portal serves.
    tls : bool
        Served over HTTPS: mark cookies ``Secure`` and send HSTS.
    """
    app = FastAPI(title="avanon portal", docs_url=None, redoc_url=None, version="1", responses=COMMON_RESPONSES)
    app.state.gov = gov
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def client_ip(request: Request) -> str:
        return request.client.host if request.client else ""

    def checked_form(info: SessionInfo, csrf: str | None) -> None:
        gov.auth.check_csrf(info, csrf)

    def page(request: Request, name: str, info: SessionInfo | None, status_code: int = 200, **context: object) -> HTMLResponse:
        principal = info.principal if info else None
        can = lambda action: principal is not None and allowed(principal, action)
        return templates.TemplateResponse(request, name, {"user": principal, "csrf": info.csrf if info else "", "can": can, **context}, status_code=status_code)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = "default-src 'self'; media-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        if tls:
            response.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(HiddenFile)
    async def hidden(request: Request, exc: HiddenFile) -> Response:
        return page(request, "error.html", None, status_code=404, title="Not found", message=str(exc))

    @app.exception_handler(AccessError)
    async def refused(request: Request, exc: AccessError) -> Response:
        return page(request, "error.html", None, status_code=403, title="Refused", message=str(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> Response:
        return page(request, "error.html", None, status_code=422, title="Malformed request", message=validation_message(exc))

    @app.exception_handler(ParameterError)
    async def bad_request(request: Request, exc: ParameterError) -> Response:
        return page(request, "error.html", None, status_code=400, title="Not accepted", message=str(exc))

    # ------------------------------------------------------------------ login
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        token = secrets.token_urlsafe(32)
        response = page(request, "login.html", None, login_csrf=token, error=None)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=tls, path="/login")
        return response

    @app.post("/login", response_class=HTMLResponse, responses={401: {"description": "Wrong credentials or locked out: the form again.", "content": HTML}})
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=64, pattern=NO_NUL)],
        password: Annotated[str, Form(max_length=1024, pattern=NO_NUL)],
        csrf: Csrf = None,
        otp: Annotated[str | None, Form(max_length=16, pattern=NO_NUL)] = None,
    ) -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not expected or not csrf or not secrets.compare_digest(expected.encode("utf-8", "surrogatepass"), csrf.encode("utf-8", "surrogatepass")):
            raise AccessError("The login form's CSRF token is missing or wrong; reload the page and try again.")
        try:
            token, _info = gov.login(username, password, otp, ip=client_ip(request))
        except AccessError as exc:
            fresh = secrets.token_urlsafe(32)
            response = page(request, "login.html", None, status_code=401, login_csrf=fresh, error=str(exc))
            response.set_cookie(LOGIN_CSRF_COOKIE, fresh, httponly=True, samesite="strict", secure=tls, path="/login")
            return response
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=tls, path="/", max_age=8 * 3600)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @app.post("/logout", status_code=303, response_class=RedirectResponse)
    def logout(request: Request, info: Session, csrf: Csrf = None) -> Response:
        checked_form(info, csrf)
        gov.logout(request.cookies.get(SESSION_COOKIE, ""), info.principal, ip=client_ip(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ catalogue and files
    @app.get("/", response_class=HTMLResponse)
    def catalogue(request: Request, info: Session) -> Response:
        return page(request, "catalogue.html", info, files=gov.catalogue(info.principal))

    @app.get("/files/{file_id}", response_class=HTMLResponse)
    def file_page(request: Request, file_id: FileId, info: Session) -> Response:
        view = gov.file(info.principal, file_id, ip=client_ip(request))
        return page(request, "file.html", info, file=view)

    @app.get("/files/{file_id}/download", response_class=FileResponse, responses=MEDIA_RESPONSES)
    def download(request: Request, file_id: FileId, info: Session, inline: bool = False) -> Response:
        path, view = gov.download(info.principal, file_id, ip=client_ip(request), purpose="playback" if inline else None)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type, filename=Path(view.path).name, content_disposition_type="inline" if inline else "attachment")

    @app.get("/review/{file_id}", response_class=HTMLResponse)
    def review(request: Request, file_id: FileId, info: Session) -> Response:
        view = gov.file(info.principal, file_id, ip=client_ip(request))
        gov.check_permission(info.principal, "review.original", view.path, ip=client_ip(request))
        return page(request, "review.html", info, file=view)

    @app.get("/review/{file_id}/original", response_class=StreamingResponse, responses={200: MEDIA_RESPONSES[200]})
    def original(request: Request, file_id: FileId, info: Session) -> Response:
        chunks: Iterator[bytes] = gov.original(info.principal, file_id, ip=client_ip(request))
        view = gov.file(info.principal, file_id)
        media_type = mimetypes.guess_type(view.path)[0] or "application/octet-stream"
        return StreamingResponse(chunks, media_type=media_type, headers={"Content-Disposition": "inline"})

    # ------------------------------------------------------------------ requests
    @app.get("/requests", response_class=HTMLResponse)
    def requests_page(request: Request, info: Session) -> Response:
        return page(
            request,
            "requests.html",
            info,
            requests=gov.requests(info.principal),
            tiers=[t for t in TIERS if t in ("authorized", "learning")],
            grants=gov.grants(info.principal),
        )

    @app.post("/requests", status_code=303, response_class=RedirectResponse)
    def request_access(
        request: Request,
        info: Session,
        study: Annotated[str, Form(max_length=128, pattern=NO_NUL)],
        tier: Annotated[str, Form(max_length=16, pattern=NO_NUL)],
        purpose: Annotated[str, Form(max_length=2000, pattern=NO_NUL)],
        csrf: Csrf = None,
    ) -> Response:
        checked_form(info, csrf)
        gov.request_access(info.principal, study, tier, purpose, ip=client_ip(request))
        return RedirectResponse("/requests", status_code=303)

    @app.post("/requests/{request_id}/approve", status_code=303, response_class=RedirectResponse)
    def approve_request(request: Request, request_id: RequestId, info: Session, csrf: Csrf = None, days: Annotated[int, Form(ge=1, le=3650)] = 90) -> Response:
        checked_form(info, csrf)
        gov.decide_request(info.principal, request_id, approve=True, days=days, ip=client_ip(request))
        return RedirectResponse("/requests", status_code=303)

    @app.post("/requests/{request_id}/deny", status_code=303, response_class=RedirectResponse)
    def deny_request(request: Request, request_id: RequestId, info: Session, csrf: Csrf = None) -> Response:
        checked_form(info, csrf)
        gov.decide_request(info.principal, request_id, approve=False, ip=client_ip(request))
        return RedirectResponse("/requests", status_code=303)

    # ------------------------------------------------------------------ stewards
    @app.get("/releases", response_class=HTMLResponse)
    def releases(request: Request, info: Session) -> Response:
        gov.check_permission(info.principal, "release.approve", "releases", ip=client_ip(request))
        return page(request, "releases.html", info, releases=gov.releases())

    @app.post("/releases/{release_id}/approve", status_code=303, response_class=RedirectResponse)
    def approve_release(request: Request, release_id: ReleaseId, info: Session, csrf: Csrf = None) -> Response:
        checked_form(info, csrf)
        gov.approve_release(info.principal, release_id, ip=client_ip(request))
        return RedirectResponse("/releases", status_code=303)

    @app.get("/flags", response_class=HTMLResponse)
    def flags(request: Request, info: Session) -> Response:
        return page(request, "flags.html", info, flags=gov.flags(info.principal, ip=client_ip(request)))

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request, info: Session) -> Response:
        entries = gov.audit_entries(info.principal, ip=client_ip(request))
        return page(request, "audit.html", info, entries=entries, findings=gov.audit.verify())

    @app.get("/admin/users", response_class=HTMLResponse)
    def users(request: Request, info: Session) -> Response:
        gov.check_permission(info.principal, "users.manage", "users", ip=client_ip(request))
        return page(request, "users.html", info, users=gov.auth.users())

    return app
