"""Render a confirmation with Jinja2: HTML and plain text in the customer's language.

Templates are looked up first in ``<template_dir>/<organisation_id>/`` and then in the
built-in ``templates/`` folder, so an organisation can override either file (or both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)
from kauppa.confirmation.domain.confirmation_content import ConfirmationContent
from kauppa.confirmation.domain.wording import Wording
from kauppa.servicekit.ids import is_safe_id


@dataclass(frozen=True)
class RenderedConfirmation:
    subject: str
    text: str
    html: str


class ConfirmationRenderer:
    def __init__(self, template_dir: str | None = None) -> None:
        self.template_dir = Path(template_dir) if template_dir else None
        self._builtin = PackageLoader("kauppa.confirmation", "templates")
        self._envs: dict[str, Environment] = {}

    def _environment(self, organisation_id: str) -> Environment:
        env = self._envs.get(organisation_id)
        if env is None:
            loaders: list[BaseLoader] = []
            # The organisation's folder only for an id of the kit's pattern (no "..",
            # no "/"): an id from an event never reaches outside template_dir.
            if self.template_dir is not None and is_safe_id(organisation_id):
                loaders.append(FileSystemLoader(self.template_dir / organisation_id))
            loaders.append(self._builtin)
            env = Environment(
                loader=ChoiceLoader(loaders),
                autoescape=select_autoescape(enabled_extensions=("html.j2",)),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            self._envs[organisation_id] = env
        return env

    def render(self, content: ConfirmationContent, note: str | None = None) -> RenderedConfirmation:
        w = Wording(content.customer.locale)
        if content.replaces_version:
            subject = w("subject_replaces", version=content.version, old=content.replaces_version)
        else:
            subject = w("subject")
        subject = f"{subject}: {content.seller.company} / {content.deal_id}"
        if content.customer_reference:
            subject += f" ({content.customer_reference})"
        contact = content.customer.contact
        context = {
            "c": content,
            "s": content.summary,
            "w": w,
            "note": note,
            "contact_name": (contact.name if contact and contact.name else None)
            or content.customer.company_name,
            "agreed_on": w.datetime(content.agreed_at, content.seller.timezone),
        }
        env = self._environment(content.organisation_id)
        text = env.get_template("confirmation.txt.j2").render(context)
        html = env.get_template("confirmation.html.j2").render(context)
        return RenderedConfirmation(subject, text, html)
