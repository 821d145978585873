"""The known filters, by config name. Explicit on purpose: no package scanning,
no import-time registration (STYLE.md). A new filter adds one line here."""
from __future__ import annotations

import importlib

# name -> "module:Class". The class has `name`, an `Options` pydantic model
# (its module's `Options`), and `__init__(options, context)`.
KNOWN_FILTERS: dict[str, str] = {
    "sender_list": "filters.sender_list:SenderListFilter",
    "attachments": "filters.attachments:AttachmentFilter",
    "virus": "filters.virus:VirusFilter",
    "sender_trust": "filters.sender_trust:SenderTrustFilter",
    "chain_letter": "filters.chain_letter:ChainLetterFilter",
    "personal_address": "filters.personal_address:PersonalAddressFilter",
    "disclosure": "filters.disclosure:DisclosureFilter",
    "offensive": "filters.offensive:OffensiveFilter",
    "risk": "filters.risk:RiskFilter",
    "authentication": "filters.authentication:AuthenticationFilter",
    "images": "filters.images:ImageFilter",
    "rate_limit": "filters.rate_limit:RateLimitFilter",
    "approval": "filters.approval:ApprovalFilter",
    "monitoring_notice": "filters.monitoring_notice:MonitoringNoticeFilter",
}


def filter_class(name: str) -> type:
    module_name, _, class_name = KNOWN_FILTERS[name].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def preload(chain: list[str]) -> None:
    """Import what the chained filters need before `schoolgate serve` forks its workers
    (gateway/workers.py): pages imported once are shared by every worker. A filter class
    may define `preload()` for what its module loads lazily (the offensive filter's model)."""
    for name in chain:
        cls = filter_class(name)
        hook = getattr(cls, "preload", None)
        if hook is not None:
            hook()
