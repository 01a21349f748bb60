"""Wiring: the registry, the management client and delivery for this container (or thread)."""

from __future__ import annotations

from dataclasses import dataclass

from .db import get_database
from .delivery import Delivery
from .management import ManagementApi, get_management_api
from .registry import Registry
from .settings import Settings, get_settings
from .streams import Streams


@dataclass(frozen=True)
class Services:
    settings: Settings
    registry: Registry
    management: ManagementApi
    delivery: Delivery
    streams: Streams


def get_services() -> Services:
    settings = get_settings()
    db = get_database()
    registry = Registry(db)
    management = get_management_api()
    delivery = Delivery(registry, management, endpoint_override=settings.management_endpoint)
    return Services(settings, registry, management, delivery, Streams(db))
