"""What the payments routers share: who may call, and the logger."""

import logging
from typing import Annotated

from fastapi import Depends

from services.common.auth import Principal, Role, require_roles

log = logging.getLogger("mercado.payments")
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
Coordinator = Annotated[Principal, Depends(require_roles(Role.coordinator))]
Financier = Annotated[Principal, Depends(require_roles(Role.financier))]
Producer = Annotated[Principal, Depends(require_roles(Role.producer))]
