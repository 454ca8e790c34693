"""PATCH bodies: a field left out stays as it is; `null` clears it only where the column takes null.

A PATCH shape derives from `PatchShape` and declares a field whose column is NOT NULL as
`name: Name = omittable()` (it may be left out, it may not be null: the OpenAPI schema says so, and
an explicit null is a 422 that names the field) and a field that may be cleared as
`phone: Phone | None = None`. Domain code then applies `body.model_dump(exclude_unset=True)` without
checking for nulls itself.
"""

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(**constraints: Any) -> Any:
    """A field that may be left out but not sent as null (its column is NOT NULL)."""
    return Field(default=None, json_schema_extra=_drop_default, **constraints)


def _admits_none(annotation: Any) -> bool:
    if annotation is None or annotation is type(None) or annotation is Any:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_admits_none(arg) for arg in get_args(annotation))
    return False


class PatchShape(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_null_where_the_column_takes_none(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if value is None and field is not None and not _admits_none(field.annotation):
                    raise ValueError(f"{name} cannot be null; leave it out to keep it as it is")
        return data
