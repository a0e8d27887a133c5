"""The OpenAPI 3.1 description of the JSON API: served as JSON and rendered at /api/v1/docs.

One document for machines and people; the tests run schemathesis against it, so what it
says is what the API does.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ...core.intake import validation as v

_TEXT = {"type": ["string", "null"]}


def _text(description: str, example: str | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {**_TEXT, "description": description, **extra}
    if example is not None:
        schema["examples"] = [example]
    return schema


def _error(description: str, example: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "example": {"error": example},
            }
        },
    }


_ID = "q3F0sK1Yv8mA2xWc7dJt9Q"
_LEAD_EXAMPLE = {
    "first_name": "Maria",
    "last_name": "Gómez",
    "email": "maria.gomez@example.com",
    "phone": "(317) 555-0142",
    "postal_code": "46204",
    "country": "US",
    "program": "medical-billing-and-coding-certificate",
    "start_term": "undecided",
    "education_level": "high_school",
    "military": "none",
    "comments": "Can I study part time?",
    "consent": True,
    "sms_opt_in": False,
    "utm_source": "google",
    "utm_medium": "cpc",
    "utm_campaign": "fall-open-house",
    "ip": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
    "page_url": "https://landing.example.edu/medical-billing",
    "referrer": "https://www.google.com/",
}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once per process)."""
    education = [key for key, _ in v.EDUCATION_LEVELS]
    military = [key for key, _ in v.MILITARY_AFFILIATIONS]
    rate_limited = _error(
        "Too many requests for this key or from this address; wait the `Retry-After` seconds.",
        "Too many requests",
    )
    rate_limited["headers"] = {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer"},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LeadForm API",
            "version": "1",
            "description": (
                "Send a prospective student's request for information from a landing page. "
                "A request through the API goes through the same rules as the program "
                "pages' form: the same validation and messages, the same merging of a "
                "returning person into their lead, the same consent evidence (the consent "
                "text version active at the time of the call: show that text next to your "
                "consent checkbox) and the same spam screening."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "A key made with `flask apikeys create NAME --origin ORIGIN`; shown once."
                    ),
                }
            },
            "schemas": {
                "LeadRequest": {
                    "type": "object",
                    "description": (
                        "The form's fields by their names. null is the same as leaving a "
                        "field out; fields not listed here are ignored."
                    ),
                    "properties": {
                        "first_name": _text("Required. Up to 100 characters.", "Maria"),
                        "last_name": _text("Required. Up to 100 characters.", "Gómez"),
                        "email": _text("Required. A deliverable address.", "maria@example.com"),
                        "phone": _text("Optional. Checked for the country.", "(317) 555-0142"),
                        "postal_code": _text("The ZIP code; required for the US.", "46204"),
                        "country": _text("ISO 3166-1 alpha-2 code.", "US"),
                        "program": _text(
                            "Required. A program's slug from GET /programs.",
                            "medical-billing-and-coding-certificate",
                        ),
                        "start_term": _text(
                            "Optional. A term key such as `2027-spring`, or `undecided`.",
                            "undecided",
                        ),
                        "education_level": _text(
                            "Optional. One of: " + ", ".join(education) + ".", "high_school"
                        ),
                        "military": _text("Optional. One of: " + ", ".join(military) + ".", "none"),
                        "comments": _text("Optional. Up to 2,000 characters."),
                        "consent": {
                            "type": ["boolean", "null"],
                            "description": "Required: true. The person agreed to be contacted.",
                        },
                        "sms_opt_in": {
                            "type": ["boolean", "null"],
                            "description": "Optional. The person agreed to text messages.",
                        },
                        "utm_source": _text("Attribution, from the landing page's URL."),
                        "utm_medium": _text("Attribution."),
                        "utm_campaign": _text("Attribution."),
                        "utm_term": _text("Attribution."),
                        "utm_content": _text("Attribution."),
                        "ip": _text(
                            "The visitor's IP address as your server saw it (evidence); "
                            "defaults to the caller's address.",
                            "203.0.113.7",
                        ),
                        "user_agent": _text("The visitor's browser (evidence)."),
                        "page_url": _text("The page the visitor filled in (evidence)."),
                        "referrer": _text("The page that sent the visitor there (evidence)."),
                        "website": _text(
                            "Forward your form's hidden honeypot field here, if it has one; "
                            "people leave it empty."
                        ),
                    },
                    "required": ["first_name", "last_name", "email", "program", "consent"],
                    "example": _LEAD_EXAMPLE,
                },
                "LeadAccepted": {
                    "type": "object",
                    "properties": {
                        "id": {
                            "type": "string",
                            "description": "The lead's public id (the same for every "
                            "request merged into it).",
                        },
                        "status": {"type": "string", "enum": ["created", "merged"]},
                    },
                    "required": ["id", "status"],
                },
                "ValidationErrors": {
                    "type": "object",
                    "properties": {
                        "errors": {
                            "type": "object",
                            "description": "Messages by field name, as the form shows them.",
                            "additionalProperties": {
                                "type": "array",
                                "items": {"type": "string"},
                            },
                        }
                    },
                    "required": ["errors"],
                },
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "Program": {
                    "type": "object",
                    "properties": {
                        "slug": {"type": "string"},
                        "name": {"type": "string"},
                        "level": {"type": "string"},
                        "summary": {"type": "string"},
                    },
                    "required": ["slug", "name", "level", "summary"],
                },
            },
        },
        "paths": {
            "/leads": {
                "post": {
                    "operationId": "createLead",
                    "summary": "Send a request for information",
                    "description": (
                        "Validated and stored like the form's. A new person or program "
                        "makes a new lead (201); a returning person asking about the same "
                        "program is merged into their lead (200, same id). Send an "
                        "`Idempotency-Key` to retry safely: a retry gets the first answer "
                        "back. From a browser, the page's origin must be one the key allows."
                    ),
                    "security": [{"apiKey": []}],
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": (
                                "A unique value per request (a UUID), 1 to 255 printable "
                                "ASCII characters. A replay with the same body gets the "
                                "stored answer (`Idempotent-Replayed: true`)."
                            ),
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/LeadRequest"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "A new lead.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/LeadAccepted"},
                                    "example": {"id": _ID, "status": "created"},
                                }
                            },
                        },
                        "200": {
                            "description": "Merged into the person's existing lead.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/LeadAccepted"},
                                    "example": {"id": _ID, "status": "merged"},
                                }
                            },
                        },
                        "400": {
                            "description": "The body is not JSON.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ValidationErrors"},
                                    "example": {
                                        "errors": {"body": ["The body is not valid JSON in UTF-8."]}
                                    },
                                }
                            },
                        },
                        "401": _error(
                            "No key, or a wrong or revoked one.",
                            "Send a valid API key: Authorization: Bearer <key>.",
                        ),
                        "403": _error(
                            "The key may not be used from the page's origin.",
                            "This API key may not be used from this origin.",
                        ),
                        "409": _error(
                            "A request with this Idempotency-Key is still being processed.",
                            "A request with this Idempotency-Key is still being processed.",
                        ),
                        "413": _error(
                            "The body is larger than the limit (16 KB by default).",
                            "The request body is larger than 16384 bytes.",
                        ),
                        "415": _error(
                            "The body is not sent as application/json.",
                            "Send the request body as JSON (Content-Type: application/json).",
                        ),
                        "422": {
                            "description": (
                                "Invalid fields (messages by field), a body that is not an "
                                "object, or an Idempotency-Key reused with another body."
                            ),
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ValidationErrors"},
                                    "example": {
                                        "errors": {
                                            "email": ["Enter an email address."],
                                            "consent": [
                                                "Check this box so we may contact you about "
                                                "the program."
                                            ],
                                        }
                                    },
                                }
                            },
                        },
                        "429": rate_limited,
                        "503": _error(
                            "No consent text is loaded yet; try again later.",
                            "Requests cannot be taken right now; try again later.",
                        ),
                    },
                }
            },
            "/programs": {
                "get": {
                    "operationId": "listPrograms",
                    "summary": "The programs a person can ask about",
                    "description": "Public. Cacheable: send `If-None-Match` with the ETag.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The active programs in catalog order.",
                            "headers": {"ETag": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "programs": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Program"},
                                            }
                                        },
                                        "required": ["programs"],
                                    },
                                    "example": {
                                        "programs": [
                                            {
                                                "slug": "medical-billing-and-coding-certificate",
                                                "name": "Medical Billing and Coding",
                                                "level": "certificate",
                                                "summary": "Prepare for a career in ...",
                                            }
                                        ]
                                    },
                                }
                            },
                        },
                        "304": {"description": "Not modified since the ETag you sent."},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description (OpenAPI 3.1)",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "304": {"description": "Not modified since the ETag you sent."},
                    },
                }
            },
        },
    }
