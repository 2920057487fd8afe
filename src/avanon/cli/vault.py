"""``avanon vault ...``: thin wrappers over :class:`avanon.vault.Vault`.

The master key comes from ``--key-file``, else ``$AVANON_VAULT_KEY_FILE``, else the passphrase in
``$AVANON_VAULT_PASSPHRASE``, else a prompt. When the governance home holds an audit key
(``avanon access init``), reads, additions, rotations and disposals are recorded in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from avanon.access.audit import AuditTrail
from avanon.access.service import Governance
from avanon.access.settings import Settings
from avanon.errors import AccessError, ParameterError
from avanon.vault import KEY_FILE_ENV, PASSPHRASE_ENV, Vault
from avanon.vault.backup import backup_vault
from avanon.vault.crypto import MasterKey

console = Console()
vault_app = typer.Typer(help="Encrypted storage of original recordings: add, read, verify, rotate keys, back up, purge.", no_args_is_help=True)

VaultOpt = typer.Option(None, "--vault", help="Vault directory (default $AVANON_VAULT or $AVANON_HOME/vault).")
KeyOpt = typer.Option(None, "--key-file", help="Master key file (32 bytes or 64 hex characters); default: passphrase.")


def _root(vault: Path | None) -> Path:
    return vault or Settings.from_env().vault


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _passphrase(confirm: bool = False, env: str = PASSPHRASE_ENV) -> str:
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise ParameterError(f"No vault passphrase: set {env} or give --key-file.")
    return str(typer.prompt("Vault passphrase", hide_input=True, confirmation_prompt=confirm))


def _open(vault: Path | None, key_file: Path | None) -> Vault:
    root = _root(vault)
    key_file = key_file or (Path(os.environ[KEY_FILE_ENV]) if os.environ.get(KEY_FILE_ENV) else None)
    if key_file is not None:
        return Vault.open(root, key_file=key_file)
    return Vault.open(root, passphrase=_passphrase())


def _audit() -> AuditTrail | None:
    settings = Settings.from_env()
    if not settings.audit_key_file.exists():
        return None
    return settings.audit_trail()


def _record(action: str, target: str, **detail: object) -> None:
    trail = _audit()
    if trail is not None:
        trail.record(_actor(), action, target, detail=detail)


@vault_app.command("init")
def init(
    vault: Path | None = VaultOpt,
    key_file: Path | None = KeyOpt,
    new_key_file: bool = typer.Option(False, "--new-key-file", help="Create KEY_FILE with a fresh random key first."),
    chunk_size: int = typer.Option(1024 * 1024, help="Plaintext bytes per encrypted chunk [bytes]."),
) -> None:
    """Create an empty vault locked by a passphrase or a key file."""
    if new_key_file:
        if key_file is None:
            raise ParameterError("--new-key-file needs --key-file PATH to write the key to.")
        MasterKey.write_key_file(key_file)
    root = _root(vault)
    if key_file is not None:
        Vault.init(root, key_file=key_file, chunk_size=chunk_size)
    else:
        Vault.init(root, passphrase=_passphrase(confirm=True), chunk_size=chunk_size)
    _record("vault.init", str(root))
    console.print(f"Vault created in {root}.")


@vault_app.command("add")
def add(
    study_dir: Path = typer.Argument(..., help="Directory of original recordings to encrypt (left untouched)."),
    study: str | None = typer.Option(None, help="Study name (default: the directory name)."),
    retention_until: str | None = typer.Option(None, help="Last day the originals may be kept (YYYY-MM-DD)."),
    vault: Path | None = VaultOpt,
    key_file: Path | None = KeyOpt,
) -> None:
    """Encrypt a study's originals into the vault."""
    until = dt.date.fromisoformat(retention_until) if retention_until else None
    stored = _open(vault, key_file).add_study(study_dir, study=study, retention_until=until)
    _record("vault.add", study or study_dir.name, files=len(stored), bytes=sum(f.size for f in stored))
    console.print(f"Stored {len(stored)} files ({sum(f.size for f in stored)} bytes).")


@vault_app.command("list")
def list_files(study: str | None = typer.Option(None, help="Only this study."), vault: Path | None = VaultOpt, key_file: Path | None = KeyOpt) -> None:
    """List stored originals: path, size in bytes, SHA-256."""
    for stored in _open(vault, key_file).files(study=study):
        console.print(f"{stored.sha256}  {stored.size:>12}  {escape(stored.path)}", highlight=False)


@vault_app.command("get")
def get(
    path: str = typer.Argument(..., help="Vault path (STUDY/...) or file id."),
    dest: Path = typer.Argument(..., help="File to write the decrypted original to ('-' for standard output)."),
    purpose: str = typer.Option(..., help="Why the original is needed (recorded in the audit trail)."),
    vault: Path | None = VaultOpt,
    key_file: Path | None = KeyOpt,
) -> None:
    """Decrypt one original (recorded in the audit trail; refused without a governance home to record it)."""
    trail = _audit()
    if trail is None:
        raise AccessError(
            f"No governance home at {Settings.from_env().home}: reading an original must be recorded in "
            "the audit trail. Run `avanon access init` (or set AVANON_HOME) first."
        )
    opened = _open(vault, key_file)
    if str(dest) == "-":
        stored = opened.decrypt_to(path, sys.stdout.buffer)
    else:
        stored = opened.get(path, dest)
    trail.record(_actor(), "read", stored.path, purpose=purpose, detail={"sha256": stored.sha256})


@vault_app.command("verify")
def verify(vault: Path | None = VaultOpt, key_file: Path | None = KeyOpt) -> None:
    """Decrypt and hash every stored file; exit 1 naming each damaged one."""
    opened = _open(vault, key_file)
    problems = opened.verify()
    for problem in problems:
        console.print(f"[red]✗[/] {escape(problem.path)}: {escape(problem.reason)}", highlight=False)
    if problems:
        raise typer.Exit(code=1)
    console.print(f"OK: {len(opened.files())} files verified.")


@vault_app.command("rotate-key")
def rotate_key(
    vault: Path | None = VaultOpt,
    key_file: Path | None = KeyOpt,
    new_key_file: Path | None = typer.Option(
        None, help="Key file for the new master key (else a new passphrase from $AVANON_VAULT_NEW_PASSPHRASE or a prompt)."
    ),
) -> None:
    """Rewrap every data key under a new master key (the encrypted data is not rewritten)."""
    opened = _open(vault, key_file)
    if new_key_file is not None:
        count = opened.rotate_key(key_file=new_key_file)
    else:
        count = opened.rotate_key(passphrase=_passphrase(confirm=True, env="AVANON_VAULT_NEW_PASSPHRASE"))
    _record("vault.rotate-key", str(opened.root), data_keys=count)
    console.print(f"Rewrapped {count} data keys.")


@vault_app.command("retention")
def retention(
    study: str = typer.Argument(..., help="Study name."),
    until: str = typer.Argument(..., help="Last day its originals may be kept (YYYY-MM-DD), or 'none'."),
    vault: Path | None = VaultOpt,
    key_file: Path | None = KeyOpt,
) -> None:
    """Set a study's retention date."""
    date = None if until == "none" else dt.date.fromisoformat(until)
    _open(vault, key_file).set_retention(study, date)
    _record("vault.retention", study, until=until)


@vault_app.command("purge")
def purge(vault: Path | None = VaultOpt, key_file: Path | None = KeyOpt) -> None:
    """Crypto-shred originals past retention or withdrawn; the disposal certificate goes into the audit trail."""
    settings = Settings.from_env()
    if not settings.audit_key_file.exists():
        raise ParameterError(f"No audit trail at {settings.home}: run `avanon access init` first; a disposal must be recorded.")
    gov = Governance.from_settings(settings, vault=_open(vault, key_file))
    certificate = gov.purge_originals(_actor())
    console.print(f"Disposed of {len(certificate['files'])} originals; certificate is audit entry {certificate['audit_seq']}.")  # type: ignore[arg-type]


@vault_app.command("backup")
def backup(archive: Path = typer.Argument(..., help="New .tar file (the vault stays encrypted inside it)."), vault: Path | None = VaultOpt) -> None:
    """Write an encrypted backup with a SHA-256 per member."""
    root = _root(vault)
    backup_vault(root, archive)
    _record("vault.backup", str(archive))
    console.print(f"Backup written to {archive}.")


@vault_app.command("restore")
def restore(
    archive: Path = typer.Argument(..., help="Backup made by 'avanon vault backup'."),
    dest: Path = typer.Argument(..., help="New or empty directory to restore the vault into."),
) -> None:
    """Restore a backup, checking every member's SHA-256."""
    members = Vault.restore(archive, dest)
    _record("vault.restore", str(dest), members=len(members))
    console.print(f"Restored {len(members)} members into {dest}; run `avanon vault verify --vault {dest}`.")


def register(app: typer.Typer) -> None:
    """Add the ``vault`` command group."""
    app.add_typer(vault_app, name="vault")
