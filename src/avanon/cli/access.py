"""``avanon access ...``, ``avanon audit ...`` and ``avanon serve``: thin wrappers over :mod:`avanon.access`.

State lives in ``$AVANON_HOME`` (default ``./.avanon``): the catalogue (``$AVANON_DB`` to use
PostgreSQL instead), the audit key and the vault. Commands that act for a steward take ``--as USER``,
an existing steward or administrator, and are recorded under that name.
"""

from __future__ import annotations

import datetime as dt
import getpass
import io
import json
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from avanon.access.policy import ROLES, Consent, Principal
from avanon.access.service import Governance, write_csv
from avanon.access.settings import Settings
from avanon.errors import ParameterError
from avanon.files import write_atomic

console = Console()
access_app = typer.Typer(help="Users, consent, releases and exports of the governance catalogue.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


def _gov(*, with_vault: bool = False) -> Governance:
    settings = Settings.from_env()
    if not settings.audit_key_file.exists():
        raise ParameterError(f"No governance home at {settings.home}: run `avanon access init` (or set AVANON_HOME).")
    vault = None
    if with_vault and (settings.vault / "vault.json").exists():
        from avanon.cli.vault import _open

        vault = _open(settings.vault, None)
    return Governance.from_settings(settings, vault=vault)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _steward(gov: Governance, username: str, action: str, target: str) -> Principal:
    return gov.acting_user(username, action, target)  # a refusal is audited by the library


@access_app.command("init")
def init() -> None:
    """Create the governance home: catalogue tables and a fresh audit key (kept outside the database)."""
    settings = Settings.from_env()
    settings.init()
    console.print(f"Governance home ready in {settings.home} (catalogue {settings.db.split('://')[0]}).")


@access_app.command("user-add")
def user_add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., help=f"One of {', '.join(ROLES)}."),
    mfa: bool = typer.Option(True, help="Enrol a one-time password (always on for stewards and administrators)."),
) -> None:
    """Create a user; the password comes from $AVANON_NEW_PASSWORD or a prompt; the TOTP secret is shown once."""
    password = os.environ.get("AVANON_NEW_PASSWORD") or str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    secret = _gov().create_user(_actor(), username, role, password, mfa=mfa)
    console.print(f"User {username} ({role}) created.")
    if secret:
        from avanon.access.auth import totp_uri

        console.print(f"One-time password secret (enter it in an authenticator app now; it is not shown again): {secret}")
        console.print(totp_uri(secret, username), highlight=False)


@access_app.command("consent")
def consent(
    code: str = typer.Argument(..., help="Pseudonymous participant code."),
    study: str = typer.Option(..., help="Study the participant belongs to."),
    audio: bool = typer.Option(False, help="Agreed to sharing recordings in which they are heard."),
    video: bool = typer.Option(False, help="Agreed to sharing recordings in which they are seen."),
    excerpts: bool = typer.Option(False, help="Agreed to excerpts shown to learning audiences."),
    derived: bool = typer.Option(False, help="Agreed to sharing derived features (pose, prosody)."),
    public: bool = typer.Option(False, help="Agreed to public release."),
    until: str | None = typer.Option(None, help="Last day the consent holds (YYYY-MM-DD)."),
) -> None:
    """Record what a participant agreed to; the tiers of their released files follow."""
    terms = Consent(audio=audio, video=video, excerpts=excerpts, derived=derived, public=public, until=dt.date.fromisoformat(until) if until else None)
    _gov().set_consent(_actor(), code, study, consent=terms)


@access_app.command("withdraw")
def withdraw(code: str = typer.Argument(..., help="Participant code.")) -> None:
    """Withdraw a participant: exclude their files and schedule their originals for disposal."""
    scheduled = _gov(with_vault=True).withdraw(_actor(), code)
    console.print(f"Participant {code} withdrawn; {len(scheduled)} originals scheduled for disposal (run `avanon vault purge`).")


@access_app.command("consent-report")
def consent_report(
    study: str = typer.Argument(..., help="Study name."), output: Path | None = typer.Option(None, "-o", help="CSV file (default: standard output).")
) -> None:
    """Consent report for ethics boards: per participant, consent, validity and released files by tier."""
    rows = _gov().consent_report(study)
    if output is None:
        write_csv(rows, sys.stdout)
    else:
        with open(output, "x", encoding="utf-8", newline="") as sink:
            write_csv(rows, sink)


@access_app.command("audit-consent")
def audit_consent(
    release_id: int = typer.Argument(..., help="Release id."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the audit as JSON to this new file."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write one row per file as CSV to this new file."),
) -> None:
    """List every file of a release against its participants' consent; exit 1 when any file does not match it."""
    for path in (json_out, csv_out):
        if path is not None and path.exists():
            raise ParameterError(f"Refusing to overwrite {path}.")
    report = _gov().audit_consent(_actor(), release_id)
    table = Table(title=f"Consent audit of release {report.release} ({escape(report.name)}, study {escape(report.study)}) on {report.date}")
    for column in ("file", "kind", "tier", "allowed", "participants", "status", "problems"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "excluded": "dim", "mismatch": "bold red"}
    for f in report.files:
        table.add_row(escape(f.path), f.kind, f.tier, f.allowed, escape(f.participants), f"[{colours[f.status]}]{f.status}[/]", escape("; ".join(f.problems)))
    console.print(table)
    for problem in report.problems:
        console.print(f"[red]✗[/] release: {escape(problem)}", highlight=False, soft_wrap=True)
    if json_out is not None:
        write_atomic(json_out, (json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    if csv_out is not None:
        sink = io.StringIO()
        write_csv(report.rows(), sink)
        write_atomic(csv_out, sink.getvalue().encode("utf-8"))
    if report.mismatches:
        console.print(f"[red]{report.mismatches} mismatches[/] between release {report.release} and its participants' consent.", highlight=False)
        raise typer.Exit(code=1)
    console.print(f"OK: every file of release {report.release} matches its participants' consent.", highlight=False)


@access_app.command("release-add")
def release_add(
    out_dir: Path = typer.Argument(..., help="Output root of 'avanon run' (with avanon_manifest.json)."),
    study: str = typer.Option(..., help="Study name (as in the vault)."),
    name: str | None = typer.Option(None, help="Release name (default: the folder name)."),
    tier: list[str] = typer.Option([], help="KIND=TIER, e.g. video=authorized, derived=public (repeatable)."),
    participants: Path | None = typer.Option(None, help="JSON file: input path -> list of participant codes."),
) -> None:
    """Catalogue the files of a run that pass the export guard as a draft release (refusals are flagged)."""
    tiers = {}
    for item in tier:
        kind, _, value = item.partition("=")
        tiers[kind.strip()] = value.strip()
    mapping = json.loads(participants.read_text(encoding="utf-8")) if participants else None
    release_id = _gov(with_vault=True).register_release(_actor(), out_dir, study=study, name=name, tiers=tiers, participants=mapping)
    console.print(f"Draft release {release_id} registered; a steward approves it with `avanon access release-approve {release_id}`.")


@access_app.command("release-approve")
def release_approve(
    release_id: int = typer.Argument(..., help="Release id."), as_user: str = typer.Option(..., "--as", help="Approving steward or administrator.")
) -> None:
    """Approve a release after re-checking every file with the export guard."""
    gov = _gov(with_vault=True)
    count = gov.approve_release(_steward(gov, as_user, "release.approve", f"release {release_id}"), release_id)
    console.print(f"Release {release_id} approved with {count} files.")


@access_app.command("export")
def export(
    out_dir: Path = typer.Argument(..., help="Output root of 'avanon run'."),
    paths: list[str] = typer.Argument(..., help="Files under OUT_DIR to export."),
    to: Path = typer.Option(..., "--to", help="Destination folder."),
) -> None:
    """Copy anonymized files out; originals, failed or unverified files are refused, recorded and flagged."""
    written = _gov(with_vault=True).export(_actor(), out_dir, paths, to)
    console.print(f"Exported {len(written)} files to {to}.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain, the signed head and every signed checkpoint; exit 1 naming each edited, deleted or reordered entry."""
    trail = _gov().audit
    findings = trail.verify()
    for finding in findings:
        console.print(f"[red]✗[/] {escape(finding.problem)}", highlight=False, soft_wrap=True)
    if findings:
        raise typer.Exit(code=1)
    count = len(trail.checkpoints.read()[0]) if trail.checkpoints is not None else 0
    console.print(f"OK: the audit trail verifies. Signed checkpoints: {count}.")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Append a signed checkpoint of the newest entry to the log outside the database (refused if the trail does not verify)."""
    trail = _gov().audit
    point = trail.checkpoint()
    where = trail.checkpoints.path if trail.checkpoints is not None else "?"
    console.print(f"Checkpoint {point.line} of {where}: {point.count} entries.", highlight=False)


@audit_app.command("export")
def audit_export(output: Path = typer.Option(..., "-o", help="CSV file to write (must not exist).")) -> None:
    """Write the audit trail as CSV (with the hashes)."""
    with open(output, "x", encoding="utf-8", newline="") as sink:
        count = _gov().audit.export_csv(sink)
    console.print(f"Wrote {count} entries to {output}.")


def serve(
    host: str = typer.Option("127.0.0.1", help="Listening address; plain HTTP only on loopback."),
    port: int = typer.Option(8000, help="Listening port."),
    tls_cert: Path | None = typer.Option(None, help="PEM certificate chain: serve HTTPS with HSTS."),
    tls_key: Path | None = typer.Option(None, help="PEM private key for --tls-cert."),
    behind_proxy: bool = typer.Option(False, help="Trust X-Forwarded-* from a reverse proxy on 127.0.0.1."),
) -> None:
    """Serve the web portal (catalogue, playback, requests, review, releases, audit trail)."""
    from avanon.portal.server import serve as run_server

    run_server(_gov(with_vault=True), host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, behind_proxy=behind_proxy)


def register(app: typer.Typer) -> None:
    """Add the ``access`` and ``audit`` groups and the ``serve`` command."""
    app.add_typer(access_app, name="access")
    app.add_typer(audit_app, name="audit")
    app.command(name="serve")(serve)
    app.command(name="portal", help="Serve the web portal (the same command as 'serve').")(serve)
