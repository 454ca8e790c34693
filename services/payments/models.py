"""Tables of the payments service, on its own metadata (see services.common.db.service_base)."""

from services.common.db import service_base
from services.common.tables import kernel_tables

Base = service_base("payments")
kernel = kernel_tables(Base.metadata)
