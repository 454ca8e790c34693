"""Tables of the gateway (accounts), on its own metadata."""

from services.common.db import service_base
from services.common.tables import kernel_tables

Base = service_base("gateway")
kernel = kernel_tables(Base.metadata)
