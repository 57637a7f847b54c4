"""pandera schemas, one per artifact kind, each registered with a name and a version."""

from schemas import debate, evaluation, labels, questions, training  # noqa: F401  (registration)
from schemas.base import SchemaSpec, SchemaViolation, get_schema, schema_names, validate

__all__ = ["SchemaSpec", "SchemaViolation", "get_schema", "schema_names", "validate"]
