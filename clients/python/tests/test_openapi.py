"""The client against the server's OpenAPI document (GET /openapi.json): every TypedDict has the
document's fields and JSON types, and every call the client makes is a documented operation."""

import json
import typing
import unittest
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

import inferq
from inferq import types as wire

from .live import BASE_URL, needs_server

# Each TypedDict and the schema it mirrors.
SCHEMAS = {
    "Job": wire.Job,
    "JobList": wire.JobList,
    "WebhookDelivery": wire.WebhookDelivery,
    "WebhookDeliveryList": wire.WebhookDeliveryList,
    "Account": wire.Account,
    "AccountDeletion": wire.AccountDeletion,
    "InferResponse": wire.InferResponse,
    "ModelMetadata": wire.ModelMetadata,
}

# Every request the client sends: method, path, query parameters, headers.
OPERATIONS: List[Tuple[str, str, List[str], List[str]]] = [
    ("post", "/v1/jobs", [], ["Idempotency-Key", "Prefer"]),
    ("get", "/v1/jobs", ["status", "limit", "cursor", "model", "version", "errorCode", "createdAfter", "createdBefore"], []),
    ("get", "/v1/jobs/{id}", ["wait"], []),
    ("post", "/v1/jobs/{id}/cancel", [], []),
    ("delete", "/v1/jobs/{id}", [], []),
    ("get", "/v1/jobs/{id}/deliveries", [], []),
    ("get", "/v1/models", [], []),
    ("get", "/v1/account", [], []),
    ("delete", "/v1/account", [], []),
    ("get", "/v1/account/webhook-secret", [], []),
    ("post", "/v1/account/webhook-secret", [], []),
    ("post", "/v2/models/{name}/infer", [], ["Idempotency-Key", "Prefer"]),
    ("post", "/v2/models/{name}/versions/{version}/infer", [], ["Idempotency-Key", "Prefer"]),
    ("get", "/v2/models/{name}", [], []),
    ("get", "/v2/models/{name}/versions/{version}", [], []),
]

# Form fields of POST /v1/jobs that submit() sends.
SUBMIT_FIELDS = {"image", "model", "version", "webhook", "webhookEvents", "ttlSeconds", "cancelAfter", "metadata"}

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


class Document:
    def __init__(self, document: Dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: Dict[str, Any]) -> Dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.document["components"]["schemas"][name]
        return schema

    def nullable(self, schema: Dict[str, Any]) -> Tuple[bool, Dict[str, Any]]:
        """Whether null is allowed, and the schema without the null."""
        schema = self.resolve(schema)
        if isinstance(schema.get("type"), list) and "null" in schema["type"]:
            rest = [kind for kind in schema["type"] if kind != "null"]
            return True, {**schema, "type": rest[0] if len(rest) == 1 else rest}
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            others = [option for option in options if self.resolve(option).get("type") != "null"]
            if len(others) < len(options):
                return True, others[0] if len(others) == 1 else {"anyOf": others}
        return False, schema

    def check(self, annotation: Any, schema: Dict[str, Any], where: str) -> List[str]:
        """Differences between a Python annotation and a JSON schema, as readable lines."""
        problems: List[str] = []
        if annotation is Any:
            # Left untyped on purpose (a union the client hands over as it came: tensor readings, elements).
            return problems
        allows_null, schema = self.nullable(schema)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Union and type(None) in args:
            if not allows_null:
                problems.append(f"{where}: Optional in the client, never null in the document")
            annotation = next(arg for arg in args if arg is not type(None))
            origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        elif allows_null:
            problems.append(f"{where}: null in the document, not Optional in the client")
        schema = self.resolve(schema)
        if "anyOf" in schema:
            # A union such as `enum or any string`: the client's type must fit every branch's type.
            kinds = {self.resolve(option).get("type") for option in schema["anyOf"]}
            schema = {"type": kinds.pop()} if len(kinds) == 1 else schema
        if origin is typing.Literal:
            if schema.get("type") != "string" or sorted(schema.get("enum", [])) != sorted(args):
                problems.append(f"{where}: Literal{list(args)} but the document says {schema.get('type')} {schema.get('enum')}")
        elif origin in (list, List):
            if schema.get("type") != "array":
                problems.append(f"{where}: a list in the client, {schema.get('type')} in the document")
            else:
                problems += self.check(args[0], schema["items"], f"{where}[]")
        elif origin in (dict, Dict):
            # A map: an object whose every value has the annotation's value type.
            if schema.get("type") != "object" or not isinstance(schema.get("additionalProperties"), dict):
                problems.append(f"{where}: a dict in the client, {schema.get('type')} in the document")
            else:
                problems += self.check(args[1], schema["additionalProperties"], f"{where}{{}}")
        elif typing.is_typeddict(annotation):
            problems += self.check_object(annotation, schema, where)
        elif annotation in JSON_TYPES:
            expected = JSON_TYPES[annotation]
            if schema.get("type") != expected:
                problems.append(f"{where}: {expected} in the client, {schema.get('type')} in the document")
        else:
            problems.append(f"{where}: the check does not know the annotation {annotation!r}")
        return problems

    def check_object(self, typed: Any, schema: Dict[str, Any], where: str) -> List[str]:
        schema = self.resolve(schema)
        if schema.get("type") != "object":
            return [f"{where}: an object in the client, {schema.get('type')} in the document"]
        hints = typing.get_type_hints(typed)
        properties = schema.get("properties", {})
        problems = [f"{where}.{name}: in the document, missing from {typed.__name__}" for name in properties if name not in hints]
        problems += [f"{where}.{name}: in {typed.__name__}, not in the document" for name in hints if name not in properties]
        required = set(schema.get("required", []))
        optional = getattr(typed, "__optional_keys__", frozenset())
        problems += [f"{where}.{name}: optional in the document, required in {typed.__name__}" for name in hints if name in properties and name not in required and name not in optional]
        problems += [f"{where}.{name}: required in the document, optional in {typed.__name__}" for name in optional if name in required]
        for name, annotation in hints.items():
            if name in properties:
                problems += self.check(annotation, properties[name], f"{where}.{name}")
        return problems


@needs_server
class OpenApiTest(unittest.TestCase):
    document: Document

    @classmethod
    def setUpClass(cls) -> None:
        with urllib.request.urlopen(f"{BASE_URL}/openapi.json", timeout=30) as response:
            cls.document = Document(json.load(response))

    def test_every_type_has_the_fields_and_types_of_its_schema(self) -> None:
        for name, typed in SCHEMAS.items():
            with self.subTest(name):
                schema = self.document.document["components"]["schemas"][name]
                self.assertEqual(self.document.check_object(typed, schema, name), [])

    def test_the_check_finds_a_difference(self) -> None:
        # A check that can not fail proves nothing: a field of the wrong type and a missing one.
        class Broken(typing.TypedDict):
            data: List[str]

        problems = self.document.check_object(Broken, self.document.document["components"]["schemas"]["JobList"], "JobList")
        self.assertTrue(any("JobList.data[]" in problem for problem in problems), problems)
        self.assertTrue(any("JobList.nextCursor: in the document, missing" in problem for problem in problems), problems)

    def test_every_call_is_a_documented_operation_with_its_parameters(self) -> None:
        paths = self.document.document["paths"]
        for method, path, query, headers in OPERATIONS:
            with self.subTest(f"{method.upper()} {path}"):
                self.assertIn(path, paths)
                self.assertIn(method, paths[path])
                parameters = paths[path][method].get("parameters", [])
                documented_query = {parameter["name"] for parameter in parameters if parameter["in"] == "query"}
                documented_headers = {parameter["name"].lower() for parameter in parameters if parameter["in"] == "header"}
                self.assertLessEqual(set(query), documented_query)
                self.assertLessEqual({header.lower() for header in headers}, documented_headers)

    def test_submit_sends_the_documented_form_fields(self) -> None:
        body = self.document.document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        self.assertEqual(set(self.document.resolve(body)["properties"]), SUBMIT_FIELDS)

    def test_the_statuses_match(self) -> None:
        status = self.document.resolve(self.document.document["components"]["schemas"]["Job"])["properties"]["status"]
        self.assertEqual(sorted(status["enum"]), sorted(inferq.FINAL_STATUSES | {"queued", "running"}))


if __name__ == "__main__":
    unittest.main()
